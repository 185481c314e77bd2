/** Lab rows of the benchmark: filled in when the namespace lab helpers are available. */
export async function labRows(_options: unknown): Promise<never[]> {
  console.log('lab rows skipped: not implemented yet');
  return [];
}
