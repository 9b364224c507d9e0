;; queries/source/identifiers.scm
;; Every identifier used as code (not a field name, a type name or a macro body's text).
;; Python keeps the ones whose text is a catalogue name, inside one function's byte range.
;; Captures:  @use.ident  the identifier
;; Used by:   the COW profile (gup unshare idioms that are flags, not calls: FAULT_FLAG_UNSHARE)

(identifier) @use.ident
