import { readResults, RESULTS_FILE } from './results.js';

/** Prints bench/results.json: the machine, then one table of figures per bench. */
const results = await readResults();
if (!results) {
  console.log(`no results yet in ${RESULTS_FILE}: run npm run bench`);
} else {
  const { machine } = results;
  console.log(
    `bench results (${RESULTS_FILE}), recorded ${results.recorded_at} on ${machine.cpu_count} x ` +
      `${machine.cpus}, ${machine.memory_gib} GiB, Node ${machine.node}, ${machine.platform}`,
  );
  for (const [bench, figures] of Object.entries(results.benches)) {
    console.log(`\n${bench}`);
    console.table(
      Object.fromEntries(Object.entries(figures).map(([figure, value]) => [figure, { value }])),
    );
  }
}
