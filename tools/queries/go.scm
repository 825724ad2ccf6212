; Definitions: functions, methods, and named types (struct, interface, other).
(function_declaration name: (identifier) @name.definition.function) @definition.function
(method_declaration name: (field_identifier) @name.definition.method) @definition.method
(type_spec name: (type_identifier) @name.definition.struct type: (struct_type)) @definition.struct
(type_spec name: (type_identifier) @name.definition.interface type: (interface_type)) @definition.interface
(type_spec
  name: (type_identifier) @name.definition.type
  type: [(type_identifier) (qualified_type) (pointer_type) (slice_type) (map_type) (array_type)
         (function_type) (channel_type) (generic_type)]) @definition.type
(type_alias name: (type_identifier) @name.definition.type) @definition.type
(method_elem name: (field_identifier) @name.definition.method) @definition.method

; References: calls and type uses.
(call_expression function: (identifier) @name.reference.call)
(call_expression function: (selector_expression field: (field_identifier) @name.reference.call))
(type_identifier) @name.reference.type
