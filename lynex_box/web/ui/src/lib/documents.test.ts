import { describe, expect, it } from 'vitest'
import { isDocumentKey, retrievedDocuments } from './documents'

describe('retrievedDocuments', () => {
  it('reads OpenInference flattened documents in index order', () => {
    const attrs = {
      'retrieval.documents.10.document.content': 'ten',
      'retrieval.documents.0.document.id': 'd0',
      'retrieval.documents.0.document.content': 'zero',
      'retrieval.documents.0.document.score': 0.91,
      'retrieval.documents.0.document.metadata': '{"source": "wiki"}',
      'retrieval.documents.2.document.content': 'two',
      'retrieval.documents.2.document.score': '0.5',
      other: 1,
    }
    expect(retrievedDocuments(attrs)).toEqual([
      { id: 'd0', content: 'zero', score: 0.91, metadata: { source: 'wiki' } },
      { id: null, content: 'two', score: 0.5, metadata: null },
      { id: null, content: 'ten', score: null, metadata: null },
    ])
    expect(isDocumentKey('retrieval.documents.0.document.score') && !isDocumentKey('other')).toBe(true)
  })

  it('reads GenAI lists, JSON text included, and a retriever output', () => {
    const attrs = { 'gen_ai.retrieval.documents': '[{"id": "a", "content": "alpha", "score": 0.3}, {"id": "b", "text": "beta"}]' }
    expect(retrievedDocuments(attrs).map((d) => [d.id, d.content, d.score])).toEqual([['a', 'alpha', 0.3], ['b', 'beta', null]])
    const output = { documents: [{ id: 'x', page_content: 'ex', score: 0.7 }] }
    expect(retrievedDocuments(null, output, 'retriever')).toEqual([{ id: 'x', content: 'ex', score: 0.7, metadata: null }])
    expect(retrievedDocuments(null, output, 'llm')).toEqual([])
    expect(retrievedDocuments({ 'retrieval.documents': 'not json' })).toEqual([])
  })
})
