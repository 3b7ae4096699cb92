/** The run fixture lives in harness/, which benchmarks may import too. */
export * from '../../harness/run-fixture.js';
