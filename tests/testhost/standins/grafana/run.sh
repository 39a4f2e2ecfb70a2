#!/bin/sh
# The test image's entrypoint, written after upstream's packaging/docker/run.sh
# contract (not its text): GF_<NAME>__FILE becomes GF_<NAME> read from that file
# (setting both is an error), then `grafana server` starts with the image's paths.
set -e

for name in $(env | sed -n 's/^\(GF_[A-Za-z0-9_]*\)__FILE=.*/\1/p'); do
    eval "direct=\${$name:-}"
    if [ -n "$direct" ]; then
        echo >&2 "ERROR: Both $name and ${name}__FILE are set (but are exclusive)"
        exit 1
    fi
    eval "file=\${${name}__FILE}"
    echo "Getting secret $name from $file"
    value=$(cat "$file")
    export "$name=$value"
    unset "${name}__FILE"
done

export HOME="$GF_PATHS_HOME"
[ -d "$GF_PATHS_PLUGINS" ] || mkdir "$GF_PATHS_PLUGINS"

exec grafana server \
    --homepath="$GF_PATHS_HOME" \
    --config="$GF_PATHS_CONFIG" \
    --packaging=docker \
    "$@" \
    cfg:default.log.mode="console" \
    cfg:default.paths.data="$GF_PATHS_DATA" \
    cfg:default.paths.logs="$GF_PATHS_LOGS" \
    cfg:default.paths.plugins="$GF_PATHS_PLUGINS" \
    cfg:default.paths.provisioning="$GF_PATHS_PROVISIONING"
