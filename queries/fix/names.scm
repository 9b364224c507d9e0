;; queries/fix/names.scm
;; Every name as code, as a struct member, and every macro definition and replacement text, for
;; `audit fix`'s checks of how a helper or a pages array is used.
;; Captures:  @name.ident       an identifier used as code
;;            @name.field       a struct member name (`->pages`, `.pages`)
;;            @name.macro       an object-like macro definition (`#define X helper`)
;;            @name.macro_text  a macro's replacement text (opaque to the grammar)
;; Used by:   audit fix (identity-only uses of the pages, callers of a release helper)

(identifier) @name.ident

(field_identifier) @name.field

(preproc_def) @name.macro

(preproc_arg) @name.macro_text
