#!/usr/bin/env bash
# Submits the Weir Flink SQL jobs to the session cluster, each as its own Flink job
# (so one can be stopped, rescaled or fail without the others), and skips every job
# whose name the cluster already runs: running the submitter again, e.g. on every
# `docker compose up`, never starts a second copy of a job.
#
# A job's name is the `SET 'pipeline.name' = '...';` line of its file. Each file runs
# after 00-tables.sql (the shared table definitions) in one `flink run`, through the
# runner dev.weir.flink.SqlRunner (docker/flink/src), which reads ${NAME:-default}
# placeholders from this environment: KAFKA_BOOTSTRAP, STORE_JDBC_URL, STORE_USER,
# STORE_PASSWORD, WEIR_TOPIC_* (see docker/compose.yaml).
#
#   FLINK_JOBMANAGER  REST address of the JobManager (jobmanager:8081)
#   WEIR_JOBS         job files to run, without .sql (all four below)
#   WEIR_SQL_DIR      where they are (/opt/weir/sql); WEIR_JOBS_JAR the runner jar
#   FLINK_BIN         the flink command (flink, on the image's PATH)
#
# Exit status: 0 when every job runs (submitted now or before), 1 if any failed.
set -euo pipefail

JOBMANAGER=${FLINK_JOBMANAGER:-jobmanager:8081}
SQL_DIR=${WEIR_SQL_DIR:-/opt/weir/sql}
JAR=${WEIR_JOBS_JAR:-/opt/weir/weir-flink-jobs.jar}
FLINK=${FLINK_BIN:-flink}
read -r -a JOBS <<< "${WEIR_JOBS:-10-store 20-fleet-rollups 30-patterns 40-gateway-health}"

log() { printf 'submit-jobs: %s\n' "$*"; }

# The names of the jobs the cluster runs or is about to run. `flink list` without
# -r/-s lists both running and scheduled (CREATED, INITIALIZING) jobs: a job
# submitted a moment ago counts as running. Its lines read
# "18.05.2025 10:00:00 : <32 hex job id> : <name> (RUNNING)".
if ! listing=$("$FLINK" list -m "$JOBMANAGER" 2>&1); then
  log "cannot list the jobs of $JOBMANAGER:"
  printf '%s\n' "$listing" >&2
  exit 1
fi
running=$(sed -n 's/^.* : [0-9a-f]\{32\} : \(.*\) ([A-Z_]*)$/\1/p' <<< "$listing")

# The pipeline.name a job file sets, or nothing.
job_name() {
  sed -n "s/^[[:space:]]*SET[[:space:]]\{1,\}'pipeline\.name'[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/Ip" "$1" | head -n 1
}

failed=0
for job in "${JOBS[@]}"; do
  file="$SQL_DIR/$job.sql"
  if [[ ! -r $file ]]; then
    log "$job: no file $file"
    failed=1
    continue
  fi
  name=$(job_name "$file")
  if [[ -z $name ]]; then
    # Without a name the job could not be recognised next time: refuse to start it.
    log "$job: $file sets no 'pipeline.name': not submitted"
    failed=1
    continue
  fi
  if grep -qxF -- "$name" <<< "$running"; then
    log "$name: already running, skipped"
    continue
  fi
  log "$name: submitting $file"
  if "$FLINK" run -d -m "$JOBMANAGER" "$JAR" --detached "$SQL_DIR/00-tables.sql" "$file"; then
    log "$name: submitted"
  else
    log "$name: submission failed"
    failed=1
  fi
done
exit "$failed"
