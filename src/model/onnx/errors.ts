// Why an ONNX model cannot be measured. Raised while reading and converting, before any
// task is sent; the message names the file, the node (or initializer) and what to do.

export class OnnxError extends Error {
  override name = "OnnxError";
}

/** Where a refused operator comes from, as the messages name it. */
export function nodeLabel(node: { name: string; op: string }): string {
  return `node '${node.name || "(unnamed)"}' (${node.op})`;
}

/** The tail every "not supported" message ends with: what the user can do. */
export const WHAT_TO_DO = "export the model without it (see the README, \"Measure your PyTorch model\") or open an issue";
