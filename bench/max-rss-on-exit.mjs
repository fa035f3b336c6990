// Preloaded (`node --import`) into a child process a bench measures (bench/peak-rss.ts): at
// exit it writes the process's peak resident memory, getrusage's ru_maxrss in kB, to fd 3,
// a pipe the bench opened. From outside, /proc/PID/status loses VmHWM the moment the
// process exits (a zombie has no memory), so polling alone misses the end of a run.
import { writeSync } from "node:fs";

process.on("exit", () => {
  try {
    writeSync(3, `max_rss_kb ${process.resourceUsage().maxRSS}\n`);
  } catch {
    // fd 3 is not open: the program was started without a bench around it.
  }
});
