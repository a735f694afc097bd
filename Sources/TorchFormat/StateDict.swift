import VGGCore

/// Walks the unpickled object: every tensor with its key path (`a.b.0.weight`), every other leaf,
/// and the state_dict of a checkpoint.
enum StateDict {
    static let maxDepth = 64

    /// Tensors and non-tensor leaves under `value`, in pickle order, with dotted key paths. The walk
    /// visits at most `budget` values: a tree has no more values than its pickle has bytes, so a larger
    /// walk means containers shared through the memo (a DAG whose unfolding is exponential).
    static func flatten(_ value: PickleValue, path: String, budget: Int) throws
        -> (tensors: [(String, TensorReference)], others: [(String, String)]) {
        var tensors: [(String, TensorReference)] = [], others: [(String, String)] = []
        var visits = 0
        func walk(_ value: PickleValue, _ key: String, _ depth: Int) throws {
            guard depth < maxDepth else {
                throw TorchFormatError.unsupported(path: path, reason: "objects nest deeper than \(maxDepth) levels at '\(SafeText.quote(key))'")
            }
            visits += 1
            guard visits <= budget else {
                throw TorchFormatError.unsupported(path: path, reason: "the pickle shares containers so often that listing it would visit more than \(budget) values (more than its own size); refusing to unfold it")
            }
            func child(_ name: String) -> String { key.isEmpty ? name : "\(key).\(name)" }
            switch value {
            case .tensor(let t): tensors.append((key, t))
            case .dict(let dict):
                for (k, v) in dict.items { try walk(v, child(keyText(k)), depth + 1) }
            case .list(let list):
                for (i, v) in list.items.enumerated() { try walk(v, child(String(i)), depth + 1) }
            case .tuple(let items):
                for (i, v) in items.enumerated() { try walk(v, child(String(i)), depth + 1) }
            default: others.append((key, value.summary))
            }
        }
        try walk(value, "", 0)
        return (tensors, others)
    }

    static func keyText(_ key: PickleValue) -> String {
        if case .string(let s) = key { return s }
        return key.summary
    }

    /// Keys under which training scripts nest the model's weights, most specific first.
    static let checkpointKeys = ["state_dict", "model_state_dict", "model", "net", "network", "module", "weights", "params", "model_ema", "ema"]

    /// A state_dict entry: its module key (prefixes removed) and its full key path in the file.
    struct Entry {
        var key: String
        let fullPath: String
        let tensor: TensorReference
    }

    /// The model's tensors: the top-level dict when it holds tensors, else the first of
    /// `checkpointKeys` (then any key) whose value does; DataParallel `module.` and torch.compile
    /// `_orig_mod.` prefixes removed. Returns the entries and where they were found.
    static func locate(_ root: PickleValue, path: String) throws -> (entries: [Entry], container: String?) {
        guard case .dict(let top) = root else {
            throw TorchFormatError.noStateDict(path: path, reason: "the file holds a \(root.kind), not a dict of tensors (save model.state_dict(), not the model)")
        }
        func directTensors(_ dict: PickleDict) -> [(String, TensorReference)] {
            dict.items.compactMap { item in
                if case .tensor(let t) = item.value { return (keyText(item.key), t) }
                return nil
            }
        }
        var found = directTensors(top)
        var container: String?
        if found.isEmpty {
            let nested = top.items.compactMap { item -> (String, PickleDict)? in
                if case .dict(let d) = item.value, !directTensors(d).isEmpty { return (keyText(item.key), d) }
                return nil
            }
            guard let pick = checkpointKeys.lazy.compactMap({ key in nested.first { $0.0 == key } }).first ?? nested.first else {
                let keys = top.items.prefix(12).map { keyText($0.key) }.joined(separator: ", ")
                throw TorchFormatError.noStateDict(path: path, reason: "no state_dict found: no dict of tensors at the top level or under its keys (\(keys))")
            }
            container = pick.0
            found = directTensors(pick.1)
        }
        var entries = found.map { key, tensor in
            Entry(key: key, fullPath: container.map { "\($0).\(key)" } ?? key, tensor: tensor)
        }
        for prefix in ["module.", "_orig_mod."] where entries.allSatisfy({ $0.key.hasPrefix(prefix) }) {
            for i in entries.indices { entries[i].key = String(entries[i].key.dropFirst(prefix.count)) }
        }
        return (entries, container)
    }
}
