// The loss is softmax cross-entropy on logits, computed stably with logSoftmax. A model
// whose last layer ends in a softmax would make us take the log of probabilities, which
// underflows; so its final activation is replaced by "linear" for computing gradients.
// The measured function (softmax of the logits) is the same.

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The layer configs of a Sequential or functional (Model) topology, or null. */
function layerList(topology: Json): Json[] | null {
  const config = isObject(topology.model_config) ? (topology.model_config as Json).config : topology.config;
  if (!isObject(config) || !Array.isArray(config.layers)) return null;
  return config.layers.filter(isObject);
}

function outputLayerName(topology: Json): string | null {
  const root = isObject(topology.model_config) ? (topology.model_config as Json) : topology;
  const config = root.config;
  if (!isObject(config) || !Array.isArray(config.output_layers)) return null;
  const first = config.output_layers[0];
  return Array.isArray(first) && typeof first[0] === "string" ? first[0] : null;
}

/** A copy of the topology whose output layer has no softmax (an Activation or Dense layer's). */
export function logitsTopology(topology: Json): Json {
  const copy = structuredClone(topology);
  const layers = layerList(copy);
  if (!layers || layers.length === 0) return copy;
  const outName = outputLayerName(copy);
  const last = outName ? layers.find((l) => isObject(l.config) && (l.config as Json).name === outName) : layers.at(-1);
  if (last && isObject(last.config) && (last.config as Json).activation === "softmax") {
    (last.config as Json).activation = "linear";
  }
  return copy;
}
