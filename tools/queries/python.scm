; Definitions: classes, functions, and functions nested in a class body (methods).
(class_definition name: (identifier) @name.definition.class) @definition.class

(function_definition name: (identifier) @name.definition.function) @definition.function

(class_definition
  body: (block
    [(function_definition name: (identifier) @name.definition.method) @definition.method
     (decorated_definition
       definition: (function_definition name: (identifier) @name.definition.method) @definition.method)]))

; References: calls, base classes, decorators, annotations, imported names.
(call function: (identifier) @name.reference.call)
(call function: (attribute attribute: (identifier) @name.reference.call))
(class_definition superclasses: (argument_list (identifier) @name.reference.class))
(class_definition superclasses: (argument_list (attribute attribute: (identifier) @name.reference.class)))
(decorator (identifier) @name.reference.call)
(decorator (attribute attribute: (identifier) @name.reference.call))
(type (identifier) @name.reference.type)
(type (attribute attribute: (identifier) @name.reference.type))
(type (generic_type (identifier) @name.reference.type))
(import_from_statement name: (dotted_name (identifier) @name.reference.import))
(import_from_statement name: (aliased_import name: (dotted_name (identifier) @name.reference.import)))
