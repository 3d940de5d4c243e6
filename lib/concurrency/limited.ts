/** Bounded parallelism over a list, for fan-outs that must not open one connection per item at once. */

/** Runs `work` for every item, at most `limit` at a time, in list order of starting. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}
