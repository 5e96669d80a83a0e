// Ends every jest run with one plain line, "N passed, N failed" (", N skipped" when any), which CI
// tooling reads as the run's verdict alongside the exit code.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const line = `${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`;
    // Jest prints its own summary after every custom reporter has run; written at exit (stderr is
    // synchronous for files and pipes), this stays the last line.
    process.once('exit', () => process.stderr.write(`${line}\n`));
  }
}
module.exports = SummaryReporter;
