#!/bin/sh
# /run.sh of localhost/lgtm-test/grafana. Written here from what the official image's
# entrypoint does, as seen from outside (the grafana role relies on these):
#   - the GF_PATHS_* variables of the image say where config, data, logs, plugins and
#     provisioning live; a path it cannot use is reported, and Grafana starts anyway;
#   - GF_<SECTION>_<KEY>__FILE=<path> becomes GF_<SECTION>_<KEY>=<file content> (how the
#     role hands over the admin password); giving both forms is an error (exit 1);
#   - then `grafana server` replaces this shell, with the paths as cfg:default.* so that
#     grafana.ini and GF_* variables still override them.

say() {
    printf 'run.sh: %s\n' "$*" >&2
}

warn_unusable() {
    [ -r "$GF_PATHS_CONFIG" ] || say "config file GF_PATHS_CONFIG=$GF_PATHS_CONFIG: cannot read it"
    [ -w "$GF_PATHS_DATA" ] || say "data directory GF_PATHS_DATA=$GF_PATHS_DATA: cannot write to it"
    [ -r "$GF_PATHS_HOME" ] || say "home GF_PATHS_HOME=$GF_PATHS_HOME: cannot read it"
}

secrets_from_files() {
    for with_suffix in $(env | cut -d= -f1 | grep '^GF_[A-Za-z0-9_]*__FILE$'); do
        target=${with_suffix%__FILE}
        if [ -n "$(printenv "$target")" ]; then
            say "ERROR: $target and $with_suffix are exclusive: set only one of them"
            exit 1
        fi
        source_file=$(printenv "$with_suffix")
        value=$(cat "$source_file") || exit 1
        export "$target=$value"
        unset "$with_suffix"
        say "$target read from $source_file"
    done
}

warn_unusable
secrets_from_files
[ -d "$GF_PATHS_PLUGINS" ] || mkdir -p "$GF_PATHS_PLUGINS"
export HOME="$GF_PATHS_HOME"

exec grafana server \
    --homepath="$GF_PATHS_HOME" \
    --config="$GF_PATHS_CONFIG" \
    --packaging=docker \
    "$@" \
    cfg:default.log.mode=console \
    cfg:default.paths.data="$GF_PATHS_DATA" \
    cfg:default.paths.logs="$GF_PATHS_LOGS" \
    cfg:default.paths.plugins="$GF_PATHS_PLUGINS" \
    cfg:default.paths.provisioning="$GF_PATHS_PROVISIONING"
