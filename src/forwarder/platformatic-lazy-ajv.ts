/**
 * Defers @platformatic/kafka's option validators until one is first called — which,
 * with the `strict: false` PlatformaticProducer sets, is never.
 *
 * Why: the client compiles 38 ajv validators (producer, consumer, admin options) at
 * import, on one shared Ajv instance exported by its dist/utils.js. With `strict: false`
 * its `kValidateOptions` returns before calling any of them, so the compiled code is
 * dead weight in the forwarder thread: measured in a fresh isolate, ~240 ms of CPU
 * at start-up (about half the import; ~2.5 s on a Pi 4 core), ~1.7 MB of heap and
 * ~15 MB of resident memory (the compiler's garbage and code pages).
 *
 * Call order: `deferValidatorCompilation()` before anything imports
 * '@platformatic/kafka' (create-producer.ts calls it right before loading the client).
 * Called after the client was loaded, it changes nothing: the validators exist already.
 *
 * Guarantees: a deferred validator behaves as the compiled one — the first call
 * compiles it with the same Ajv instance and schema, and every call sets `.errors` as
 * ajv does (client code reads it after a failed validation). Should a later client
 * version move or rename the instance, this does nothing and says so (the return
 * value; the forwarder logs it): the unit test fails on such a version.
 *
 * Errors: none thrown; a failed lookup is returned as `{ deferred: false, why }`.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

type Validate = ((data: unknown) => boolean) & { errors?: unknown };
interface AjvLike { compile(schema: unknown): Validate }

const PATCHED = Symbol.for('weir.platformatic.lazyAjv');

export async function deferValidatorCompilation(): Promise<{ deferred: true } | { deferred: false; why: string }> {
  let ajv: (AjvLike & { [PATCHED]?: true }) | undefined;
  try {
    // The package's exports map hides dist/utils.js from bare specifiers; a file URL
    // next to its entry point reaches the very module instance the client itself uses.
    const utils = new URL('utils.js', pathToFileURL(createRequire(import.meta.url).resolve('@platformatic/kafka')));
    ({ ajv } = await import(utils.href) as { ajv?: AjvLike });
  } catch (err) {
    return { deferred: false, why: `cannot load the client's utils.js: ${(err as Error).message}` };
  }
  if (typeof ajv?.compile !== 'function') return { deferred: false, why: "the client's utils.js exports no Ajv instance" };
  if (ajv[PATCHED]) return { deferred: true };
  const compile = ajv.compile.bind(ajv);
  ajv.compile = (schema: unknown): Validate => {
    let compiled: Validate | undefined;
    const deferred: Validate = (data) => {
      compiled ??= compile(schema);
      const valid = compiled(data);
      deferred.errors = compiled.errors;
      return valid;
    };
    deferred.errors = null;
    return deferred;
  };
  ajv[PATCHED] = true;
  return { deferred: true };
}
