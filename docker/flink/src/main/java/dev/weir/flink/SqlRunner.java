package dev.weir.flink;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.table.api.EnvironmentSettings;
import org.apache.flink.table.api.ResultKind;
import org.apache.flink.table.api.TableEnvironment;
import org.apache.flink.table.api.TableResult;

/**
 * Runs plain Flink SQL files, in order, in one TableEnvironment: the central tier's
 * job submitter.
 *
 * <p>Where it runs decides where the jobs run. Under {@code flink run} (the compose
 * file's job submitter) the environment is the cluster's; started with plain
 * {@code java} (the tests, the benchmark) it is Flink's local mode, a MiniCluster in
 * this JVM. The .sql files are the same in both.
 *
 * <p>Call: {@code SqlRunner [--detached] FILE...}. Each file is split into statements
 * (a {@code ;} ends one, outside quotes and comments; an {@code EXECUTE STATEMENT SET
 * BEGIN ... END;} block is one statement). {@code ${NAME}} and {@code ${NAME:-default}}
 * are replaced from the environment before parsing, so connection settings stay out
 * of the SQL; a name with neither a value nor a default is an error naming file and
 * name. {@code SET 'key' = 'value'} sets a configuration option for the statements
 * after it, as in Flink's SQL client. Every statement that starts a job (INSERT, STATEMENT SET) is submitted at
 * once; without {@code --detached} the runner then waits for all of them, which for
 * bounded sources (the tests) is when they finish, and exits non-zero if any fails.
 */
public final class SqlRunner {
  private static final Pattern PLACEHOLDER = Pattern.compile("\\$\\{([A-Z0-9_]+)(?::-([^}]*))?}");
  /** SQL client syntax; TableEnvironment.executeSql() does not take SET, so it is applied here. */
  private static final Pattern SET = Pattern.compile("(?is)SET\\s+'([^']+)'\\s*=\\s*'([^']*)'");

  private SqlRunner() {}

  public static void main(String[] args) throws Exception {
    boolean detached = false;
    List<Path> files = new ArrayList<>();
    for (String arg : args) {
      if (arg.equals("--detached")) detached = true;
      else files.add(Path.of(arg));
    }
    if (files.isEmpty()) {
      System.err.println("usage: SqlRunner [--detached] FILE.sql...");
      System.exit(2);
    }
    TableEnvironment tEnv = TableEnvironment.create(EnvironmentSettings.inStreamingMode());
    List<JobClient> jobs = new ArrayList<>();
    for (Path file : files) {
      for (String statement : statements(substitute(file, System.getenv()))) {
        Matcher set = SET.matcher(statement);
        if (set.matches()) {
          tEnv.getConfig().set(set.group(1), set.group(2));
          continue;
        }
        TableResult result;
        try {
          result = tEnv.executeSql(statement);
        } catch (RuntimeException e) {
          throw new IllegalStateException(file + ": " + firstLine(statement) + ": " + e.getMessage(), e);
        }
        // EXPLAIN, SHOW, DESCRIBE: print what they answer (useful from the command line).
        if (result.getResultKind() == ResultKind.SUCCESS_WITH_CONTENT && result.getJobClient().isEmpty()) result.print();
        result.getJobClient().ifPresent(job -> {
          System.out.println("weir-flink: submitted " + job.getJobID() + " from " + file.getFileName());
          jobs.add(job);
        });
      }
    }
    if (detached) return;
    int failed = 0;
    for (JobClient job : jobs) {
      try {
        job.getJobExecutionResult().get();
        System.out.println("weir-flink: finished " + job.getJobID());
      } catch (Exception e) {
        failed++;
        System.err.println("weir-flink: job " + job.getJobID() + " failed: " + e);
        e.printStackTrace();
      }
    }
    System.exit(failed == 0 ? 0 : 1);
  }

  /** The file's text with every placeholder replaced. */
  static String substitute(Path file, Map<String, String> env) throws IOException {
    String text = Files.readString(file, StandardCharsets.UTF_8);
    Matcher m = PLACEHOLDER.matcher(text);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      String value = env.get(m.group(1));
      if (value == null || value.isEmpty()) value = m.group(2);
      if (value == null) {
        throw new IllegalArgumentException(file + ": ${" + m.group(1) + "} is not set and has no default");
      }
      m.appendReplacement(out, Matcher.quoteReplacement(value));
    }
    m.appendTail(out);
    return out.toString();
  }

  /**
   * Splits SQL text into statements: {@code ;} ends one unless it is inside a quoted
   * string, a quoted identifier, a comment, or a STATEMENT SET block (which ends at
   * {@code END;}). Comments are dropped.
   */
  static List<String> statements(String sql) {
    List<String> out = new ArrayList<>();
    StringBuilder cur = new StringBuilder();
    int i = 0;
    int n = sql.length();
    while (i < n) {
      char c = sql.charAt(i);
      if (c == '-' && i + 1 < n && sql.charAt(i + 1) == '-') {
        while (i < n && sql.charAt(i) != '\n') i++;
        continue;
      }
      if (c == '/' && i + 1 < n && sql.charAt(i + 1) == '*' && !(i + 2 < n && sql.charAt(i + 2) == '+')) {
        int end = sql.indexOf("*/", i + 2);
        i = end < 0 ? n : end + 2;
        continue;
      }
      if (c == '\'' || c == '`' || c == '"') {
        int j = i + 1;
        while (j < n) {
          if (sql.charAt(j) == c) {
            if (j + 1 < n && sql.charAt(j + 1) == c) j += 2; // doubled quote = escaped
            else break;
          } else {
            j++;
          }
        }
        cur.append(sql, i, Math.min(j + 1, n));
        i = j + 1;
        continue;
      }
      if (c == ';') {
        String stmt = cur.toString().trim();
        String upper = stmt.toUpperCase().replaceAll("\\s+", " ");
        boolean inSet = upper.startsWith("EXECUTE STATEMENT SET") || upper.startsWith("BEGIN STATEMENT SET");
        if (inSet && !upper.endsWith(" END")) {
          cur.append(c);
          i++;
          continue;
        }
        if (!stmt.isEmpty()) out.add(stmt);
        cur.setLength(0);
        i++;
        continue;
      }
      cur.append(c);
      i++;
    }
    String tail = cur.toString().trim();
    if (!tail.isEmpty()) out.add(tail);
    return out;
  }

  private static String firstLine(String statement) {
    String line = statement.lines().findFirst().orElse("");
    return line.length() > 80 ? line.substring(0, 80) + "…" : line;
  }
}
