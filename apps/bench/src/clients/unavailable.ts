/** Thrown when a client cannot run here (a package not built yet, a platform without kqueue). */
export class Unavailable extends Error {
  override name = 'Unavailable';
}

/** Loads a workspace package by a computed name, so a package that is not built makes only its
 * own client unavailable instead of failing the whole bench at compile time. */
export async function load<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new Unavailable(`${name} does not load: ${detail}`);
  }
}
