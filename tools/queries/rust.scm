; Definitions: structs, enums, unions, traits, type aliases, functions; functions in impl/trait bodies are methods.
(struct_item name: (type_identifier) @name.definition.struct) @definition.struct
(enum_item name: (type_identifier) @name.definition.enum) @definition.enum
(union_item name: (type_identifier) @name.definition.struct) @definition.struct
(trait_item name: (type_identifier) @name.definition.trait) @definition.trait
(type_item name: (type_identifier) @name.definition.type) @definition.type
(function_item name: (identifier) @name.definition.function) @definition.function
(macro_definition name: (identifier) @name.definition.macro) @definition.macro
(declaration_list (function_item name: (identifier) @name.definition.method) @definition.method)
(declaration_list (function_signature_item name: (identifier) @name.definition.method) @definition.method)

; References: calls, macro invocations and type uses.
(call_expression function: (identifier) @name.reference.call)
(call_expression function: (field_expression field: (field_identifier) @name.reference.call))
(call_expression function: (scoped_identifier name: (identifier) @name.reference.call))
(call_expression function: (generic_function function: (identifier) @name.reference.call))
(macro_invocation macro: (identifier) @name.reference.call)
(type_identifier) @name.reference.type
