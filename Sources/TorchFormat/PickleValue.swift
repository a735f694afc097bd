import VGGCore

/// A value built by the restricted unpickler. Containers are reference types because pickle mutates
/// them after creation (APPEND, SETITEMS, BUILD) and the memo shares them.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer too large for `Int` (little-endian two's complement bytes).
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// An allow-listed global (a class or function), not yet called.
    case global(module: String, name: String)
    case storage(StorageReference)
    case tensor(TensorReference)
    case dtype(DType)
    /// The MARK sentinel on the stack.
    case mark

    /// A short description for error messages.
    var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global(let module, let name): return "\(module).\(name)"
        case .storage: return "storage"
        case .tensor: return "tensor"
        case .dtype: return "dtype"
        case .mark: return "mark"
        }
    }

    /// A one-line rendering of a non-tensor value for `inspect`.
    var summary: String {
        switch self {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .bigInt: return "<big int>"
        case .float(let f): return String(f)
        case .string(let s): return s.count > 60 ? "'\(s.prefix(57))...'" : "'\(s)'"
        case .bytes(let b): return "<\(b.count) bytes>"
        case .tuple(let items): return "(" + items.prefix(4).map(\.summary).joined(separator: ", ") + (items.count > 4 ? ", ..." : "") + ")"
        case .list(let list): return "[" + list.items.prefix(4).map(\.summary).joined(separator: ", ") + (list.items.count > 4 ? ", ..." : "") + "]"
        case .dict(let dict): return "{\(dict.items.count) entries}"
        case .dtype(let d): return "torch.\(d.rawValue)"
        default: return "<\(kind)>"
        }
    }
}

final class PickleList {
    var items: [PickleValue]
    init(_ items: [PickleValue] = []) { self.items = items }
}

final class PickleDict {
    var items: [(key: PickleValue, value: PickleValue)]
    init(_ items: [(key: PickleValue, value: PickleValue)] = []) { self.items = items }
}

extension PickleValue {
    /// Containers may nest at most this deep: deeper structures are refused before they could
    /// exhaust the stack when walked or released. Real state_dicts nest a handful of levels.
    static let maxNesting = 100

    /// How deeply containers nest inside this value (a scalar is 0), counted no further than
    /// `maxNesting + 1`, so that self-referencing containers (built through the memo) terminate.
    var nesting: Int { nesting(budget: Self.maxNesting + 1) }

    private func nesting(budget: Int) -> Int {
        guard budget > 0 else { return 0 }
        let children: [PickleValue]
        switch self {
        case .tuple(let items): children = items
        case .list(let list): children = list.items
        case .dict(let dict): children = dict.items.flatMap { [$0.key, $0.value] }
        default: return 0
        }
        var deepest = 0
        for child in children {
            deepest = max(deepest, child.nesting(budget: budget - 1))
            if deepest >= budget - 1 { break }
        }
        return 1 + deepest
    }
}

/// A storage named by a persistent id: `('storage', type, key, location, numel[, view])`.
struct StorageReference {
    /// Zip: `data/<key>`; legacy: the storage's key in the trailing storage list.
    let key: String
    /// Element type; nil for `UntypedStorage` (bytes, dtype given by the tensor).
    let dtype: DType?
    let typeName: String
    /// Elements (bytes for untyped storages) in the whole storage.
    let count: Int
    /// Legacy views: the offset (in elements) of this view inside the root storage.
    let viewOffset: Int
}

/// A tensor rebuilt by `_rebuild_tensor*`: a strided view of a storage.
struct TensorReference {
    let storage: StorageReference
    let dtype: DType
    let offset: Int
    let shape: [Int]
    let stride: [Int]
}
