// The filter state the traces list and the span table share: the shared time range and the filters from the URL,
// the window both are read over (fixed until the range or a filter changes, or the user refreshes), the API query
// they make, and a shared link's project (opened when the user is a member of it).
import { useCallback, useEffect, useMemo, useState } from 'react'
import { apiFilters, readState, stateKey, writeState } from '../lib/filterstate'
import type { FilterState, MultiKey } from '../lib/filterstate'
import { href, navigate, useLocation } from '../lib/router'
import { boundsOf } from '../lib/timerange'
import { rangeKey, useTimeRange } from '../lib/useRange'
import { useSession } from '../session'

export function useListFilters(path: string) {
  const { project, me, setProject } = useSession()
  const loc = useLocation()
  const { range, setRange } = useTimeRange()
  const filters = readState(loc.params)
  const fkey = stateKey(filters)
  const rkey = rangeKey(range)
  const [bounds, setBounds] = useState(() => boundsOf(range, Date.now()))
  useEffect(() => setBounds(boundsOf(range, Date.now())), [rkey, fkey]) // eslint-disable-line react-hooks/exhaustive-deps
  const refresh = useCallback(() => setBounds(boundsOf(range, Date.now())), [rkey]) // eslint-disable-line react-hooks/exhaustive-deps
  // a shared link names its project: open that one when the user is a member of it
  const linkProject = loc.params.get('project')
  useEffect(() => {
    if (linkProject && linkProject !== project.project_id && me.projects.some((p) => p.project_id === linkProject)) setProject(linkProject)
  }, [linkProject]) // eslint-disable-line react-hooks/exhaustive-deps
  const setFilters = useCallback((s: FilterState) => navigate(href(path, writeState(s)), { replace: true }), [path])
  const query = useMemo(() => ({ from: bounds.from, to: bounds.to, ...apiFilters(filters) }), [bounds, fkey]) // eslint-disable-line react-hooks/exhaustive-deps
  const facetQuery = (without: MultiKey) => ({ from: bounds.from, to: bounds.to, ...apiFilters(filters, without) })
  return { loc, range, setRange, filters, fkey, bounds, refresh, setFilters, query, facetQuery }
}
