// The error of an admin view (settings tabs): explains a missing sign-in or role instead of a bare status.
import { ApiError } from '../lib/api'
import { useSession } from '../session'
import { ErrorBox } from './ui'

export function AdminError({ error, onRetry }: { error: Error; onRetry: () => void }) {
  const { mode } = useSession()
  if (error instanceof ApiError && (error.status === 404 || error.status === 401) && mode.kind === 'key') {
    return <p className="notice">Settings need a signed-in user: sign out and sign in with your email and password.</p>
  }
  if (error instanceof ApiError && error.status === 403) {
    return (
      <p className="notice" data-testid="forbidden-notice">
        Your role cannot see this part of the settings.
      </p>
    )
  }
  return <ErrorBox error={error} onRetry={onRetry} />
}
