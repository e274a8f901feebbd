// Invitation links sent by admins: accept an invitation (creating the account). The token is in the URL's
// fragment (#lxi_...), which browsers never send to servers or write to logs. Reset links: PasswordReset.tsx.
import { useEffect, useState } from 'react'
import type { FormEvent } from 'react'
import { api, setAuthMode, setCsrfToken } from '../lib/api'
import { navigate } from '../lib/router'

interface Invitation {
  org_name: string
  email: string
  role: string
  project_id: string | null
  project_role: string | null
}

function token(): string {
  return decodeURIComponent(window.location.hash.replace(/^#/, ''))
}

export function Invite({ onSignedIn }: { onSignedIn: () => void }) {
  const [inv, setInv] = useState<Invitation | null>(null)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    api<Invitation>('/api/invitations/lookup', { method: 'POST', body: { token: token() }, quiet: true }).then(setInv, (e: Error) =>
      setError(e.message),
    )
  }, [])
  async function accept(e: FormEvent<HTMLFormElement>) {
    e.preventDefault()
    const form = new FormData(e.currentTarget)
    setError(null)
    try {
      const res = await api<{ csrf_token?: string }>('/api/invitations/accept', {
        method: 'POST',
        quiet: true,
        body: { token: token(), name: String(form.get('name') ?? ''), password: String(form.get('password') ?? ''), email: String(form.get('email') ?? '') || undefined },
      })
      setCsrfToken(res?.csrf_token ?? null)
      setAuthMode({ kind: 'session' })
      navigate('/', { replace: true })
      onSignedIn()
    } catch (err) {
      setError((err as Error).message)
    }
  }
  return (
    <div className="login-page">
      <div className="login-card">
        <div className="brand big">
          <span className="logo" aria-hidden>◆</span> Lynex Box
        </div>
        {error && <div className="error-box" role="alert">{error}</div>}
        {inv && (
          <form className="form" onSubmit={accept} aria-label="Accept the invitation">
            <p>
              You are invited to <strong>{inv.org_name}</strong> as <strong>{inv.project_role ?? inv.role}</strong>.
            </p>
            <label>
              Email
              <input name="email" type="email" defaultValue={inv.email} readOnly={!!inv.email} required autoComplete="username" />
            </label>
            <label>
              Your name
              <input name="name" autoComplete="name" />
            </label>
            <label>
              Choose a password
              <input name="password" type="password" required autoComplete="new-password" />
            </label>
            <button className="btn primary" type="submit">
              Create my account
            </button>
          </form>
        )}
      </div>
    </div>
  )
}
