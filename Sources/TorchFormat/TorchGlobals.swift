import FileIO
import VGGCore

/// The allow-list: which globals a weights pickle may name, and what "calling" each one means.
/// Modelled on torch's own `weights_only` unpickler; nothing here imports or runs anything.
enum TorchGlobals {
    /// torch's typed storage classes and the dtype each holds: the one table the reader and `PthWriter` share.
    static let typedStorages: [(name: String, dtype: DType)] = [
        ("FloatStorage", .float32), ("HalfStorage", .float16), ("BFloat16Storage", .bfloat16), ("DoubleStorage", .float64),
        ("LongStorage", .int64), ("IntStorage", .int32), ("ShortStorage", .int16), ("CharStorage", .int8),
        ("ByteStorage", .uint8), ("BoolStorage", .bool),
    ]
    /// What a pickle may name as a storage: the typed ones, and `UntypedStorage`, which torch.load types
    /// as bytes (_rebuild_tensor_v3 passes the real dtype).
    static let storageTypes: [String: DType?] = Dictionary(uniqueKeysWithValues: typedStorages.map { ($0.name, Optional($0.dtype)) })
        .merging(["UntypedStorage": .uint8]) { typed, _ in typed }
    static let dtypes: [String: DType] = [
        "float32": .float32, "float": .float32, "float16": .float16, "half": .float16, "bfloat16": .bfloat16,
        "float64": .float64, "double": .float64, "int64": .int64, "long": .int64, "int32": .int32, "int": .int32,
        "int16": .int16, "short": .int16, "int8": .int8, "uint8": .uint8, "bool": .bool,
    ]
    static let functions: Set<String> = [
        "collections.OrderedDict", "collections.Counter",
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2", "torch.nn.parameter.Parameter", "torch.Tensor",
        "torch.Size", "torch.device", "builtins.set", "builtins.frozenset", "builtins.bytearray", "_codecs.encode",
        "torch.serialization._get_layout",
    ]

    /// The value a GLOBAL opcode pushes, or a refusal naming the global.
    static func resolve(module: String, name: String, path: String) throws -> PickleValue {
        let full = "\(module).\(name)"
        if functions.contains(full) { return .global(module: module, name: name) }
        if module == "torch" || module == "torch.storage" {
            if storageTypes.keys.contains(name) || name.hasSuffix("Storage") { return .global(module: "torch", name: name) }
            if let dtype = dtypes[name] { return .dtype(dtype) }
        }
        throw TorchFormatError.refusedGlobal(path: path, global: full)
    }

    /// Interprets REDUCE / NEWOBJ of an allowed global on `args`.
    static func call(_ callable: PickleValue, _ args: [PickleValue], arena: PickleArena, path: String, offset: Int) throws -> PickleValue {
        func bad(_ why: String) -> TorchFormatError { .malformedPickle(path: path, offset: offset, reason: why) }
        guard case .global(let module, let name) = callable else {
            throw bad("REDUCE calls a \(callable.kind), not an allowed global")
        }
        switch "\(module).\(name)" {
        case "collections.OrderedDict", "collections.Counter":
            if case .list(let list)? = args.first {
                return arena.dict(try list.items.map { item in
                    guard case .tuple(let pair) = item, pair.count == 2 else { throw bad("OrderedDict items must be pairs") }
                    return (pair[0], pair[1])
                })
            }
            return arena.dict()
        case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3":
            guard args.count >= 4, case .storage(let storage) = args[0], case .int(let storageOffset) = args[1],
                  let shape = ints(args[2]), let stride = ints(args[3]) else {
                throw bad("\(name) expects (storage, offset, size, stride, …)")
            }
            var dtype = storage.dtype
            if name.hasSuffix("_v3"), args.count >= 7, case .dtype(let explicit) = args[6] { dtype = explicit }
            guard let dtype else { throw TorchFormatError.unsupported(path: path, feature: .storageType(storage.typeName)) }
            guard shape.count == stride.count, shape.count <= 16 else { throw bad("tensor size \(shape) and stride \(stride) disagree") }
            let (offset, overflow) = storageOffset.addingReportingOverflow(storage.viewOffset)
            guard !overflow, offset >= 0 else { throw bad("storage offset \(storageOffset) + view offset \(storage.viewOffset) is out of range") }
            return .tensor(TensorReference(storage: storage, dtype: dtype, offset: offset, shape: shape, stride: stride))
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state", "torch.nn.parameter.Parameter":
            guard let data = args.first else { throw bad("\(name) without data") }
            return data
        case "torch._tensor._rebuild_from_type_v2":
            guard args.count >= 3, case .tuple(let inner) = args[2] else { throw bad("_rebuild_from_type_v2 expects (func, type, args, state)") }
            return try call(args[0], inner, arena: arena, path: path, offset: offset)
        case "torch.Size":
            guard case .tuple(let dims)? = args.first else { return .tuple([]) }
            return .tuple(dims)
        case "torch.device":
            return .string(args.map(\.summary).joined(separator: ":"))
        case "builtins.set", "builtins.frozenset":
            if case .list(let list)? = args.first { return arena.list(list.items) }
            if case .tuple(let items)? = args.first { return arena.list(items) }
            return arena.list()
        case "builtins.bytearray":
            if case .bytes(let b)? = args.first { return .bytes(b) }
            return .bytes([])
        case "_codecs.encode":
            // How pickle protocol 2 stores bytes: _codecs.encode(text, 'latin1').
            guard case .string(let text)? = args.first else { throw bad("_codecs.encode expects a string") }
            return .bytes(text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) })
        default:
            throw bad("\(module).\(name) cannot be called here")
        }
    }

    /// BUILD: accepted (and ignored) on dicts (a state_dict's `_metadata`) and tensors.
    static func build(_ target: PickleValue, state: PickleValue, path: String, offset: Int) throws {
        switch target {
        case .dict, .tensor: return
        default:
            throw TorchFormatError.malformedPickle(path: path, offset: offset, reason: "BUILD on a \(target.kind) is not allowed")
        }
    }

    static func ints(_ value: PickleValue) -> [Int]? {
        guard case .tuple(let items) = value else { return nil }
        var out: [Int] = []
        for item in items {
            guard case .int(let i) = item else { return nil }
            out.append(i)
        }
        return out
    }
}
