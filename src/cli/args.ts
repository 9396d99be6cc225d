import { parseArgs, type ParseArgsConfig } from 'node:util';
import { WeirError } from '../core/errors.js';

/** node:util parseArgs, with its errors turned into WEIR_USAGE. */
export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new WeirError('WEIR_USAGE', (err as Error).message);
  }
}

export const configOption = { config: { type: 'string', short: 'c' } } as const;
