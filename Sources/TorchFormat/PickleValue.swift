import FileIO
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
        case .global(let module, let name): return SafeText.quote("\(module).\(name)")
        case .storage: return "storage"
        case .tensor: return "tensor"
        case .dtype: return "dtype"
        case .mark: return "mark"
        }
    }

    /// A one-line rendering of a non-tensor value for `inspect` (strings escaped; containers shown
    /// two levels deep and four items wide, so any value renders in bounded time and length).
    var summary: String { summary(levels: 2) }

    private func summary(levels: Int) -> String {
        func inner(_ items: [PickleValue]) -> String {
            guard levels > 0 else { return "…" }
            return items.prefix(4).map { $0.summary(levels: levels - 1) }.joined(separator: ", ") + (items.count > 4 ? ", ..." : "")
        }
        switch self {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .bigInt: return "<big int>"
        case .float(let f): return String(f)
        case .string(let s): return "'\(SafeText.quote(s, limit: 60))'"
        case .bytes(let b): return "<\(b.count) bytes>"
        case .tuple(let items): return "(" + inner(items) + ")"
        case .list(let list): return "[" + inner(list.items) + "]"
        case .dict(let dict): return "{\(dict.items.count) entries}"
        case .dtype(let d): return "torch.\(d.rawValue)"
        default: return "<\(kind)>"
        }
    }
}

/// A pickle list (also sets). Created only through a `PickleArena`.
final class PickleList {
    var items: [PickleValue]
    fileprivate init(_ items: [PickleValue]) { self.items = items }
}

/// A pickle dict, in insertion order. Created only through a `PickleArena`.
final class PickleDict {
    var items: [(key: PickleValue, value: PickleValue)]
    fileprivate init(_ items: [(key: PickleValue, value: PickleValue)]) { self.items = items }
}

/// Owns every list and dict one pickle creates and empties them all before any is freed. Pickles can
/// chain containers through the memo (40,000 lists, each inside the next); freed naturally, each
/// container's release would free the next from inside its own deinit, one native stack frame per
/// level. Emptying them from here makes teardown a flat loop, linear in the number of containers.
final class PickleArena {
    private var lists: [PickleList] = []
    private var dicts: [PickleDict] = []

    func list(_ items: [PickleValue] = []) -> PickleValue {
        let list = PickleList(items)
        lists.append(list)
        return .list(list)
    }

    func dict(_ items: [(key: PickleValue, value: PickleValue)] = []) -> PickleValue {
        let dict = PickleDict(items)
        dicts.append(dict)
        return .dict(dict)
    }

    deinit {
        // Every container is still held here, so clearing one frees no other container; tuples nest
        // at most `PickleValue.maxNesting` deep between containers.
        for list in lists { list.items = [] }
        for dict in dicts { dict.items = [] }
    }
}

extension PickleValue {
    /// Tuples may nest at most this deep (tracked by the unpickler as they are built). Lists and dicts
    /// can be chained deeper through the memo: `PickleArena` tears them down, and code that walks
    /// values bounds its own depth.
    static let maxNesting = 100
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
