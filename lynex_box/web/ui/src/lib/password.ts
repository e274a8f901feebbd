// The checks the change-password form makes before it sends anything (the server checks again, with its rules).

/** What is wrong with a new password before it is sent; null when it may be sent. */
export function passwordProblem(next: string, repeat: string, current: string): string | null {
  if (next !== repeat) return 'The two new passwords differ.'
  if (next === current) return 'Choose a password different from the current one.'
  return null
}
