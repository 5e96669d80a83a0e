/** One sample's value in Prometheus text format (`series` as exposed, labels included, e.g. `x_total{outcome="stop"}`), or undefined. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** One sample of the gateway on `port`, scraped from its /metrics: `name` without the `holysheep_gateway_` prefix (docs/operations.md). */
export async function gatewayMetric(port: number, name: string): Promise<number | undefined> {
  return sample(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), `holysheep_gateway_${name}`);
}
