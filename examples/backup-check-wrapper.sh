#!/usr/bin/env bash
# Run a restic/borg repository check or a restore test and append one JSON line with
# its outcome to a log that the backup_catalog source reads (`check_log:`), so the
# backup policy sees when each repository was last verified and restore-tested.
#
#   backup-check-wrapper.sh TOOL REPOSITORY LOG check [-- TOOL-ARGS...]
#   backup-check-wrapper.sh TOOL REPOSITORY LOG restore-test SNAPSHOT|latest [-- TOOL-ARGS...]
#
#   TOOL        restic | borg
#   REPOSITORY  what you pass to `restic -r` / borg (local paths are logged absolute)
#   LOG         the JSON-lines file to append to (created when missing)
#   TOOL-ARGS   passed to the tool and NOT logged, e.g. `-- --read-data-subset=10%`
#               (restic check) or `-- --verify-data` (borg check)
#
# restore-test restores the snapshot (restic `restore --verify`, borg `extract`) into a
# fresh folder under $TMPDIR (default /tmp) and removes it afterwards; `latest` is
# resolved to the snapshot id / archive name before it is logged.
#
# The password comes from the tool's own environment (RESTIC_PASSWORD_FILE,
# RESTIC_PASSWORD, BORG_PASSCOMMAND, BORG_PASSPHRASE, ...); the wrapper never reads or
# logs it. The tool's own output goes to this script's stdout/stderr. Exit code: the
# tool's (0 = success), or 2 for bad usage.
#
# Example crontab (weekly check reading a tenth of the data, quarterly restore test):
#   0 3 * * 0  RESTIC_PASSWORD_FILE=/etc/backup/pw backup-check-wrapper.sh restic /srv/restic/gl /var/log/backup-checks.jsonl check -- --read-data-subset=10%
#   0 4 1 */3 * RESTIC_PASSWORD_FILE=/etc/backup/pw backup-check-wrapper.sh restic /srv/restic/gl /var/log/backup-checks.jsonl restore-test latest
set -u

usage() {
    sed -n '6,7p' "$0" | sed 's/^#   //' >&2
    exit 2
}

[ $# -ge 4 ] || usage
tool=$1 repo=$2 log=$3 action=$4
shift 4
snapshot=""
if [ "$action" = restore-test ]; then
    [ $# -ge 1 ] && [ "$1" != -- ] || usage
    snapshot=$1
    shift
elif [ "$action" != check ]; then
    usage
fi
if [ $# -gt 0 ]; then
    [ "$1" = -- ] || usage
    shift
fi
case $tool in restic | borg) ;; *) usage ;; esac

# Local paths are logged absolute so the source's `repository:` matches them; URLs and
# remote specs (sftp:host:/p, s3:..., rest:..., ssh://..., user@host:path) stay as given.
case $repo in
    /* | ./* | ../*) logged_repo=$(realpath -m -- "$repo") ;;
    *:*) logged_repo=$repo ;;
    *) logged_repo=$(realpath -m -- "$repo") ;;
esac

json_str() { # a JSON string literal (backslash, quote and control characters escaped)
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
    s=${s//$'\t'/\\t}
    printf '"%s"' "$s"
}

resolve_latest() {
    if [ "$tool" = restic ]; then
        restic -r "$logged_repo" snapshots latest --json | grep -o '"id":"[0-9a-f]*"' | head -n 1 | cut -d'"' -f4
    else
        borg list --last 1 --short "$logged_repo"
    fi
}

stamp() { date +%Y-%m-%dT%H:%M:%S.%N%:z; }
started=$(stamp)
if [ "$action" = check ]; then
    if [ "$tool" = restic ]; then
        restic -r "$logged_repo" check "$@"
    else
        borg check "$@" "$logged_repo"
    fi
    rc=$?
else
    if [ "$snapshot" = latest ]; then
        snapshot=$(resolve_latest)
        if [ -z "$snapshot" ]; then
            echo "backup-check-wrapper: no snapshot to restore in $repo" >&2
            rc=1
        fi
    fi
    if [ -n "$snapshot" ]; then
        target=$(mktemp -d "${TMPDIR:-/tmp}/restore-test.XXXXXX") || exit 1
        trap 'rm -rf -- "$target"' EXIT
        if [ "$tool" = restic ]; then
            restic -r "$logged_repo" restore "$snapshot" --target "$target" --verify "$@"
        else
            (cd "$target" && borg extract "$@" "$logged_repo::$snapshot")
        fi
        rc=$?
    fi
fi
finished=$(stamp)

status=failed
[ "$rc" -eq 0 ] && status=success
snapshot_json=null
[ -n "$snapshot" ] && snapshot_json=$(json_str "$snapshot")
printf '{"tool":%s,"repository":%s,"action":%s,"snapshot":%s,"started_at":%s,"finished_at":%s,"status":%s,"exit_code":%d}\n' \
    "$(json_str "$tool")" "$(json_str "$logged_repo")" "$(json_str "$action")" "$snapshot_json" \
    "$(json_str "$started")" "$(json_str "$finished")" "$(json_str "$status")" "$rc" >>"$log" || exit 1
exit "$rc"
