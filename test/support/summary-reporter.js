// Ends every jest run with one plain line, "N passed, N failed" (", N skipped" when any), which CI
// tooling reads as the run's verdict alongside the exit code.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const line = `${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`;
    // stderr, like the default reporter, so the line comes after its summary.
    process.stderr.write(`${line}\n`);
  }
}
module.exports = SummaryReporter;
