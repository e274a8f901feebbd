// Who is signed in, which project is open, and what their role lets them do.
import { createContext, useContext } from 'react'
import type { AuthMode } from './lib/api'

export interface User {
  id: string
  email: string
  name: string
  /** signed in with a printed password: only changing it is allowed */
  must_change_password?: boolean
}
export interface Org {
  id: string
  name: string
  role: string
}
export interface Project {
  project_id: string
  name: string
  org_id: string | null
  role: string
}
export interface Me {
  user: User | null
  orgs: Org[]
  projects: Project[]
}

export interface Session {
  mode: AuthMode
  me: Me
  project: Project
  /** owner/admin may change settings and keys; member may write prompts; viewer only reads */
  canAdmin: boolean
  canWrite: boolean
  setProject: (projectId: string) => void
  logout: () => void
  /** ask the server again who is signed in and what they see (after a project is created or renamed) */
  reload?: () => void
}

export const SessionContext = createContext<Session | null>(null)

export function useSession(): Session {
  const s = useContext(SessionContext)
  if (!s) throw new Error('useSession outside of a signed-in app')
  return s
}

export function roleCan(role: string): { canAdmin: boolean; canWrite: boolean } {
  return { canAdmin: role === 'owner' || role === 'admin', canWrite: role !== 'viewer' }
}
