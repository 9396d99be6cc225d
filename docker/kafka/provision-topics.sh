#!/usr/bin/env bash
# Creates the Weir topics and makes their partitions and configs match the table
# below. Idempotent: a second run changes nothing and says so ("no changes").
#
#   KAFKA_BOOTSTRAP        bootstrap servers (kafka:9092)
#   REPLICATION_FACTOR     replicas of every topic it creates (1); an existing topic
#                          keeps its own: changing it takes kafka-reassign-partitions
#   MIN_INSYNC_REPLICAS    min.insync.replicas (2 from 3 replicas up, else 1): with
#                          the gateways' acks=all a write survives one broker loss
#   WEIR_TOPIC_READINGS, _AGGREGATES, _ALERTS, _DEADLETTER, _STATUS, _FLEET_ALERTS
#                          topic names (weir.readings, ...), as in the gateway config
#   KAFKA_TOPICS_CMD       the kafka-topics command (/opt/kafka/bin/kafka-topics.sh);
#   KAFKA_CONFIGS_CMD      and kafka-configs (/opt/kafka/bin/kafka-configs.sh). Either
#                          may be several words, split on spaces, e.g.
#                          "java -cp CLASSPATH org.apache.kafka.tools.TopicCommand".
#
# What it does per topic: create it if missing (--if-not-exists, so a gateway that
# creates it at the same moment is no error); raise its partition count if lower
# (never lower it: Kafka cannot, and a key's partition would change); set every
# declared config whose value differs. Undeclared overrides are reported, not removed.
# Output: one line per change, then "provision-topics: N topics, M changes" (or "no
# changes"). Exit status non-zero only if a Kafka command failed.
set -euo pipefail

: "${KAFKA_BOOTSTRAP:=kafka:9092}"
read -r -a TOPICS_CMD <<< "${KAFKA_TOPICS_CMD:-/opt/kafka/bin/kafka-topics.sh}"
read -r -a CONFIGS_CMD <<< "${KAFKA_CONFIGS_CMD:-/opt/kafka/bin/kafka-configs.sh}"
RF="${REPLICATION_FACTOR:-1}"
if [[ -n "${MIN_INSYNC_REPLICAS:-}" ]]; then MIN_ISR="$MIN_INSYNC_REPLICAS"
elif (( RF >= 3 )); then MIN_ISR=2
else MIN_ISR=1
fi

DAY=86400000
# Every topic: retention counts from when the broker appended a record, not from
# the producer's clock: a gateway delivering a week-old backlog after an outage, or
# one whose clock is not synced yet, must not have its records expire on arrival.
# Segments roll daily so retention deletes at day granularity, not 7-day steps.
COMMON=("min.insync.replicas=$MIN_ISR" "message.timestamp.type=LogAppendTime" "segment.ms=$DAY")

# name | partitions | configs. Partitions bound the consumers (Flink source
# parallelism) of a topic; each costs broker files and memory, so only readings, the
# bulk of the traffic, gets many. All are keyed by device (status: by gateway), so
# one device's records stay in one partition, in order.
declare -a NAMES=() PARTS=() CONFIGS=()
topic() { NAMES+=("$1"); PARTS+=("$2"); CONFIGS+=("${*:3}"); }
# Readings: the bulk. 7 days covers a central-tier outage of a week (Flink resumes
# from its offsets); the store, not Kafka, keeps the history.
topic "${WEIR_TOPIC_READINGS:-weir.readings}" 12 cleanup.policy=delete retention.ms=$((7 * DAY))
# Edge window results: ~1/300 of the readings' volume at 1 Hz, kept 30 days so the
# roll-ups can be recomputed from Kafka alone.
topic "${WEIR_TOPIC_AGGREGATES:-weir.aggregates}" 6 cleanup.policy=delete retention.ms=$((30 * DAY))
topic "${WEIR_TOPIC_ALERTS:-weir.alerts}" 3 cleanup.policy=delete retention.ms=$((30 * DAY))
# Dead letters carry raw payloads for someone to look at: two weeks, then gone.
topic "${WEIR_TOPIC_DEADLETTER:-weir.deadletter}" 3 cleanup.policy=delete retention.ms=$((14 * DAY))
# Status, keyed by gateway: compaction keeps each gateway's last record (a new
# consumer learns every gateway's state at once), but never before 7 days, so the
# full history (heartbeats, gap announcements) reaches the store first; delete
# drops a gateway silent for 90 days.
topic "${WEIR_TOPIC_STATUS:-weir.status}" 3 cleanup.policy=compact,delete retention.ms=$((90 * DAY)) \
  min.compaction.lag.ms=$((7 * DAY))
# Fleet alerts (Flink's output, seed 001's usage > 90): a feed for notifiers.
topic "${WEIR_TOPIC_FLEET_ALERTS:-weir.fleet-alerts}" 3 cleanup.policy=delete retention.ms=$((7 * DAY))

log() { printf 'provision-topics: %s\n' "$*"; }
CHANGES=0
change() { log "$*"; CHANGES=$((CHANGES + 1)); }

# Runs a Kafka tool (its stdout is the result; its chatter, e.g. the warning about
# dots in topic names, is dropped); on failure prints its output and exits.
run() {
  local label=$1 out
  shift
  if ! out=$("$@" 2>&1); then
    printf 'provision-topics: %s failed:\n%s\n' "$label" "$out" >&2
    exit 1
  fi
  printf '%s\n' "$out"
}
topics() { run "kafka-topics $*" "${TOPICS_CMD[@]}" --bootstrap-server "$KAFKA_BOOTSTRAP" "$@"; }
configs() { run "kafka-configs $*" "${CONFIGS_CMD[@]}" --bootstrap-server "$KAFKA_BOOTSTRAP" "$@"; }

# --topic is a regular expression for --describe and --alter: dots escaped, and
# one alternation for all topics so describing them costs one JVM start.
exact() { printf '%s' "${1//./\\.}"; }
PATTERN=$(for n in "${NAMES[@]}"; do exact "$n"; printf '|'; done)
PATTERN=${PATTERN%|}

declare -A HAVE_PARTS=() HAVE_RF=() HAVE_CFG=() HAVE_KEYS=()
describe() {
  HAVE_PARTS=() HAVE_RF=() HAVE_CFG=() HAVE_KEYS=()
  local line name="-" field key value fields out
  # Captured first, not read from <(...): a failing tool must stop the script (set -e).
  out=$(topics --describe --if-exists --topic "$PATTERN")
  # Summary lines: "Topic: NAME<TAB>TopicId: ..<TAB>PartitionCount: N<TAB>ReplicationFactor: R<TAB>..."
  while IFS= read -r line; do
    [[ $line == Topic:* ]] || continue
    IFS=$'\t' read -r -a fields <<< "$line"
    for field in "${fields[@]}"; do
      case $field in
        "Topic: "*) name=${field#Topic: } ;;
        "PartitionCount: "*) HAVE_PARTS[$name]=${field#PartitionCount: } ;;
        "ReplicationFactor: "*) HAVE_RF[$name]=${field#ReplicationFactor: } ;;
      esac
    done
  done <<< "$out"
  out=$(configs --describe --entity-type topics)
  # Dynamic (per-topic) configs of all topics: "Dynamic configs for topic NAME are:"
  # then "  key=value sensitive=... synonyms={...}" lines.
  while IFS= read -r line; do
    if [[ $line =~ ^Dynamic\ configs\ for\ topic\ (.+)\ are:$ ]]; then
      name=${BASH_REMATCH[1]}
    elif [[ $line == "  "*=*" sensitive="* && -n ${HAVE_PARTS[$name]+x} ]]; then
      line=${line#  }; line=${line%% sensitive=*}
      key=${line%%=*}; value=${line#*=}
      HAVE_CFG[$name|$key]=$value
      HAVE_KEYS[$name]+="$key "
    fi
  done <<< "$out"
}

describe
created=0
for i in "${!NAMES[@]}"; do
  name=${NAMES[$i]}
  [[ -n ${HAVE_PARTS[$name]+x} ]] && continue
  # shellcheck disable=SC2206 # the configs are single words by construction
  cfg=("${COMMON[@]}" ${CONFIGS[$i]})
  topics --create --if-not-exists --topic "$name" --partitions "${PARTS[$i]}" \
    --replication-factor "$RF" "${cfg[@]/#/--config=}" > /dev/null
  change "$name: created (${PARTS[$i]} partitions, replication factor $RF)"
  created=1
done
# Describe again after creating: what a concurrent creator made is checked below too.
(( created )) && describe

for i in "${!NAMES[@]}"; do
  name=${NAMES[$i]} want=${PARTS[$i]}
  have=${HAVE_PARTS[$name]:-}
  if [[ -z $have ]]; then
    printf 'provision-topics: %s: still missing after create\n' "$name" >&2
    exit 1
  fi
  if (( have < want )); then
    # Keys re-map: a device's new records go to another partition than its old ones.
    topics --alter --topic "$(exact "$name")" --partitions "$want" > /dev/null
    change "$name: partitions $have -> $want"
  elif (( have > want )); then
    log "$name: has $have partitions, more than the declared $want: left as is (Kafka cannot reduce them)"
  fi
  if [[ ${HAVE_RF[$name]} != "$RF" ]]; then
    log "$name: replication factor ${HAVE_RF[$name]}, not $RF: left as is (use kafka-reassign-partitions.sh)"
  fi

  # shellcheck disable=SC2206
  cfg=("${COMMON[@]}" ${CONFIGS[$i]})
  alter=() declared=" "
  for kv in "${cfg[@]}"; do
    key=${kv%%=*} value=${kv#*=}
    declared+="$key "
    current=${HAVE_CFG[$name|$key]-"(default)"}
    [[ $current == "$value" ]] && continue
    # kafka-configs takes a list value in brackets: cleanup.policy=[compact,delete].
    [[ $value == *,* ]] && kv="$key=[$value]"
    alter+=("$kv")
    change "$name: $key $current -> $value"
  done
  if (( ${#alter[@]} > 0 )); then
    joined=$(IFS=,; printf '%s' "${alter[*]}")
    configs --alter --entity-type topics --entity-name "$name" --add-config "$joined" > /dev/null
  fi
  read -r -a keys <<< "${HAVE_KEYS[$name]:-}"
  for key in "${keys[@]}"; do
    [[ $declared == *" $key "* ]] ||
      log "$name: $key=${HAVE_CFG[$name|$key]} is set but not declared here: left as is"
  done
done

if (( CHANGES == 0 )); then
  log "${#NAMES[@]} topics, no changes"
elif (( CHANGES == 1 )); then
  log "${#NAMES[@]} topics, 1 change"
else
  log "${#NAMES[@]} topics, $CHANGES changes"
fi
