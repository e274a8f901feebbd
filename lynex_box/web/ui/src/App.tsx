// The shell: sign-in gate, navigation, project switcher, theme, and the view for the current path.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react'
import type { ReactNode } from 'react'
import { api, setAuthMode, setUnauthorizedHandler, storedKeyAuth } from './lib/api'
import type { AuthMode } from './lib/api'
import { href, match, navigate, useLocation } from './lib/router'
import { useKeys, useStored } from './lib/hooks'
import { carriedParams } from './lib/filterstate'
import { roleCan, SessionContext } from './session'
import type { Me, Session } from './session'
import { Login } from './views/Login'
import { Overview } from './views/Overview'
import { Traces } from './views/Traces'
import { TraceView } from './views/Trace'
import { Spans } from './views/Spans'
import { Sessions, SessionDetail } from './views/Sessions'
import { Users } from './views/Users'
import { UserDetail } from './views/Activity'
import { Dashboards } from './views/Dashboards'
import { Prompts } from './views/Prompts'
import { Alerts } from './views/Alerts'
import { Monitors } from './views/Monitors'
import { Settings } from './views/Settings'
import { GetStarted } from './views/GetStarted'
import { Invite } from './views/Invite'
import { ForgotPassword, ResetPassword } from './views/PasswordReset'
import { ForcedPasswordChange } from './views/Account'

type Boot = { state: 'loading' } | { state: 'signed-out' } | { state: 'signed-in'; mode: AuthMode; me: Me }

const NAV: [string, string, string][] = [
  ['/', 'Overview', 'o'],
  ['/dashboards', 'Dashboard', 'd'],
  ['/traces', 'Traces', 't'],
  ['/spans', 'Spans', 'x'],
  ['/sessions', 'Sessions', 's'],
  ['/users', 'Users', 'u'],
  ['/prompts', 'Prompts', 'p'],
  ['/alerts', 'Alerts', 'a'],
  ['/monitors', 'Monitors', 'm'],
  ['/settings', 'Settings', ','],
  ['/start', 'Get started', 'n'],
]

async function loadSession(): Promise<Boot> {
  try {
    // optional=1: signed out is a 200 with user null (an expected answer, not a 401 logged as a console error)
    const me = await api<Me>('/api/auth/me', { query: { optional: '1' }, quiet: true })
    if (me && me.user && Array.isArray(me.projects)) {
      setAuthMode({ kind: 'session' })
      return { state: 'signed-in', mode: { kind: 'session' }, me }
    }
  } catch {
    /* no session (or no auth API on this server): try a pasted key */
  }
  const keyAuth = storedKeyAuth()
  if (keyAuth && keyAuth.kind === 'key') {
    setAuthMode(keyAuth)
    const me: Me = { user: null, orgs: [], projects: [{ project_id: keyAuth.projectId, name: keyAuth.projectId, org_id: null, role: 'key' }] }
    return { state: 'signed-in', mode: keyAuth, me }
  }
  return { state: 'signed-out' }
}

function View({ path }: { path: string }): ReactNode {
  let m: Record<string, string> | null
  if (path === '/' || path === '') return <Overview />
  if (path === '/traces') return <Traces />
  if ((m = match('/traces/:id', path))) return <TraceView traceId={m.id} />
  if (path === '/spans') return <Spans />
  if (path === '/sessions') return <Sessions />
  if ((m = match('/sessions/:id', path))) return <SessionDetail sessionId={m.id} />
  if (path === '/users') return <Users />
  if ((m = match('/users/:id', path))) return <UserDetail userId={m.id} />
  if (path === '/dashboards') return <Dashboards />
  if (path === '/prompts') return <Prompts />
  if (path === '/alerts') return <Alerts />
  if (path === '/monitors') return <Monitors />
  if (path === '/settings' || path.startsWith('/settings/')) return <Settings tab={path.split('/')[2] || 'keys'} />
  if (path === '/start') return <GetStarted />
  return (
    <div className="page">
      <h1>Not found</h1>
      <p>
        Nothing lives at this address. <a href={href('/')}>Go to the overview</a>.
      </p>
    </div>
  )
}

export default function App() {
  const [boot, setBoot] = useState<Boot>({ state: 'loading' })
  const [theme, setTheme] = useStored<'light' | 'dark'>(
    'lynex.theme',
    window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light',
  )
  const [projectId, setProjectId] = useStored<string | null>('lynex.project', null)
  const loc = useLocation()
  const gPressed = useRef(false)
  const [help, setHelp] = useState(false)

  useEffect(() => {
    document.documentElement.dataset.theme = theme
  }, [theme])

  const refresh = useCallback(() => {
    void loadSession().then(setBoot)
  }, [])
  useEffect(refresh, [refresh])
  useEffect(() => {
    setUnauthorizedHandler(() => {
      setAuthMode(null)
      setBoot({ state: 'signed-out' })
    })
    return () => setUnauthorizedHandler(null)
  }, [])

  const logout = useCallback(() => {
    const wasSession = boot.state === 'signed-in' && boot.mode.kind === 'session'
    setAuthMode(null)
    setBoot({ state: 'signed-out' })
    if (wasSession) void api('/api/auth/logout', { method: 'POST', quiet: true }).catch(() => undefined)
  }, [boot])

  const session: Session | null = useMemo(() => {
    if (boot.state !== 'signed-in') return null
    const projects = boot.me.projects
    const project = projects.find((p) => p.project_id === projectId) ?? projects[0]
    if (!project) return null
    const can = project.role === 'key' ? { canAdmin: true, canWrite: true } : roleCan(project.role)
    return { mode: boot.mode, me: boot.me, project, ...can, setProject: setProjectId, logout, reload: refresh }
  }, [boot, projectId, setProjectId, logout, refresh])

  useKeys({
    '?': () => setHelp((h) => !h),
    Escape: () => setHelp(false),
    g: () => {
      gPressed.current = true
      window.setTimeout(() => (gPressed.current = false), 1200)
    },
    ...Object.fromEntries(
      NAV.map(([path, , key]) => [
        key,
        () => {
          if (gPressed.current) {
            gPressed.current = false
            navigate(href(path, carriedParams(loc.path, path, loc.params)))
          }
        },
      ]),
    ),
  })

  if (loc.path === '/invite') return <Invite onSignedIn={refresh} />
  if (loc.path === '/reset-password') return <ResetPassword />
  if (loc.path === '/forgot-password') return <ForgotPassword />
  if (boot.state === 'loading') return <div className="boot">Loading…</div>
  if (boot.state === 'signed-out') return <Login onSignedIn={refresh} />
  if (boot.me.user?.must_change_password) return <ForcedPasswordChange email={boot.me.user.email} onDone={refresh} onSignOut={logout} />
  if (!session) {
    return (
      <div className="login-page">
        <div className="login-card">
          <h2>No project</h2>
          <p>Your account is not a member of any project yet. Ask an owner of your organisation to add you.</p>
          <button className="btn" type="button" onClick={logout}>
            Sign out
          </button>
        </div>
      </div>
    )
  }

  const section = '/' + (loc.path.split('/')[1] ?? '')
  return (
    <SessionContext.Provider value={session}>
      <div className="shell">
        <nav className="sidebar" aria-label="Main">
          <div className="brand">
            <span className="logo" aria-hidden>◆</span> Lynex Box
          </div>
          <label className="project-switch">
            <span className="muted small">Project</span>
            <select
              aria-label="Project"
              data-testid="project-switcher"
              value={session.project.project_id}
              onChange={(e) => setProjectId(e.target.value)}
            >
              {session.me.projects.map((p) => (
                <option key={p.project_id} value={p.project_id}>
                  {p.name}
                </option>
              ))}
            </select>
          </label>
          <ul>
            {NAV.map(([path, label, key]) => (
              <li key={path}>
                <a
                  href={href(path, carriedParams(loc.path, path, loc.params))}
                  className={section === path || (path === '/' && loc.path === '/') ? 'active' : ''}
                  aria-current={section === path ? 'page' : undefined}
                  title={`g ${key}`}
                  onClick={(e) => {
                    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return
                    e.preventDefault()
                    navigate(href(path, carriedParams(loc.path, path, loc.params)))
                  }}
                >
                  {label}
                </a>
              </li>
            ))}
          </ul>
          <div className="sidebar-foot">
            <div className="muted small" data-testid="whoami">
              {session.me.user ? session.me.user.email : 'API key'} · {session.project.role}
            </div>
            <div className="row">
              <button
                type="button"
                className="btn small"
                onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
                aria-label="Toggle dark theme"
              >
                {theme === 'dark' ? '☀ Light' : '☾ Dark'}
              </button>
              <button type="button" className="btn small" onClick={logout}>
                Sign out
              </button>
            </div>
          </div>
        </nav>
        <main className="main" key={session.project.project_id}>
          <View path={loc.path} />
        </main>
        {help && <ShortcutHelp onClose={() => setHelp(false)} />}
      </div>
    </SessionContext.Provider>
  )
}

function ShortcutHelp({ onClose }: { onClose: () => void }) {
  const rows: [string, string][] = [
    ...NAV.map(([, label, key]): [string, string] => [`g ${key}`, `Go to ${label}`]),
    ['/', 'Search traces'],
    ['j / k, ↑ / ↓', 'Move in a list or the span tree'],
    ['Enter', 'Open the selected trace'],
    ['← / →', 'Fold / unfold a span'],
    ['?', 'This help'],
  ]
  return (
    <div className="overlay" role="dialog" aria-modal="true" aria-label="Keyboard shortcuts" onClick={onClose}>
      <div className="card overlay-card" onClick={(e) => e.stopPropagation()}>
        <h2>Keyboard shortcuts</h2>
        <table className="table">
          <tbody>
            {rows.map(([k, v]) => (
              <tr key={k}>
                <td>
                  <kbd>{k}</kbd>
                </td>
                <td>{v}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <button type="button" className="btn" onClick={onClose} autoFocus>
          Close
        </button>
      </div>
    </div>
  )
}
