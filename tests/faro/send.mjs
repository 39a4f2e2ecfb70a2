// Sends one Faro log (and one exception) to a faro.receiver the way the Faro web SDK
// does: faro-core builds the items and getTransportBody() the JSON body; this
// transport only POSTs it (the web SDK's FetchTransport does the same with fetch).
// Usage: node send.mjs <collect URL> <app name> <message>
import {
  BaseTransport, VERSION, getTransportBody, initializeFaro, defaultBatchingConfig,
  defaultGlobalObjectKey, defaultInternalLoggerLevel, defaultUnpatchedConsole,
  defaultLogArgsSerializer, defaultErrorArgsSerializer, createInternalLogger,
} from "@grafana/faro-core";

const [url, appName, message] = process.argv.slice(2);
const sent = [];

class PostTransport extends BaseTransport {
  name = "lgtm-test-post-transport";
  version = VERSION;

  send(items) {
    const body = JSON.stringify(getTransportBody(Array.isArray(items) ? items : [items]));
    sent.push(fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
    }).then(async (response) => {
      if (response.status !== 202) {
        throw new Error(`faro.receiver answered ${response.status}: ${await response.text()}`);
      }
      return body;
    }));
  }
}

const faro = initializeFaro({
  app: { name: appName, version: "1.0.0", environment: "test" },
  batching: { ...defaultBatchingConfig, enabled: false },
  dedupe: true,
  globalObjectKey: defaultGlobalObjectKey,
  internalLoggerLevel: defaultInternalLoggerLevel,
  instrumentations: [],
  isolate: true,
  metas: [() => ({ session: { id: "lgtm-test-session" }, page: { url: "http://localhost/test" } })],
  parseStacktrace: () => ({ frames: [] }),
  paused: false,
  preventGlobalExposure: true,
  transports: [new PostTransport()],
  unpatchedConsole: defaultUnpatchedConsole,
  logArgsSerializer: defaultLogArgsSerializer,
  errorArgsSerializer: defaultErrorArgsSerializer,
  internalLogger: createInternalLogger(defaultUnpatchedConsole, defaultInternalLoggerLevel),
});

faro.api.pushLog([message]);
const bodies = await Promise.all(sent);
process.stdout.write(bodies.join("\n") + "\n");
