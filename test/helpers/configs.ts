/** A valid config that names no files (synthetic data, an MLP). Line numbers matter to the tests. */
export const BASE_CONFIG = [
  "model:", //               1
  "  kind: mlp", //          2
  "  layers: [4, 8, 3]", //  3
  "data:", //                4
  "  kind: synthetic", //    5
  "  n: 100", //             6
  "  features: 4", //        7
  "  classes: 3", //         8
  "pairs:", //               9
  "  count: 10", //          10
  "  batch_size: 5", //      11
  "",
].join("\n");
