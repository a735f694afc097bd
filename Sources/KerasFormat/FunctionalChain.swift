import FileIO
import VGGCore

/// A functional model's wiring (each layer's `inbound_nodes`, the model's `output_layers`), checked to be
/// the one chain vggconv runs: every layer after the input is called once, on one tensor, the output of
/// the layer listed just before it, and the last layer is the output. Layer lists are read in order, so
/// a branch, a skip connection, a shared layer or a cycle would otherwise be run as a different network.
/// Both wirings are read: tf-keras `[[["name", node, tensor, {}]]]` and Keras 3's
/// `[{"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": ["name", node, tensor]}}]}]`.
enum FunctionalChain {
    /// - Throws: `KerasFormatError.badConfig` naming the first layer that breaks the chain.
    static func check(_ list: [[String: Any]], config: [String: Any], model: String, origin: String) throws {
        guard list.contains(where: { $0["inbound_nodes"] != nil }) else { return }  // hand-written, unwired
        func fail(_ reason: String) -> KerasFormatError {
            .badConfig(origin: origin, reason: "model \(SafeText.quote(model)): \(reason); vggconv converts models whose layers form one chain in the listed order, without branches, skip connections, shared layers or cycles")
        }
        var previous: String?
        for (position, entry) in list.enumerated() {
            let name = (entry["config"] as? [String: Any])?["name"] as? String ?? entry["name"] as? String ?? "layer_\(position)"
            let nodes = entry["inbound_nodes"] as? [Any] ?? []
            let isInput = entry["class_name"] as? String == "InputLayer"
            if isInput {
                guard nodes.isEmpty else { throw fail("input layer \(SafeText.quote(name)) has inbound nodes") }
                guard previous == nil else { throw fail("a second input layer, \(SafeText.quote(name))") }
                previous = name
                continue
            }
            guard let expected = previous else { throw fail("layer \(SafeText.quote(name)) comes before any input layer") }
            guard nodes.count == 1 else { throw fail("layer \(SafeText.quote(name)) is called \(nodes.count) times") }
            let sources = Self.sources(of: nodes[0])
            guard sources.count == 1 else { throw fail("layer \(SafeText.quote(name)) takes \(sources.count) inputs") }
            guard sources[0] == expected else {
                throw fail("layer \(SafeText.quote(name)) takes its input from \(SafeText.quote(sources[0])), not from the layer listed before it (\(SafeText.quote(expected)))")
            }
            previous = name
        }
        if let outputs = config["output_layers"] as? [Any], let last = previous {
            let names = outputs.compactMap { ($0 as? [Any])?.first as? String ?? $0 as? String }
            guard names == [last] else {
                throw fail("the outputs are \(names.map { SafeText.quote($0) }.joined(separator: ", ")), not the last layer \(SafeText.quote(last))")
            }
        }
    }

    /// The layer names a call node reads from, in order.
    static func sources(of node: Any) -> [String] {
        if let tfKeras = node as? [Any] {  // [["name", node, tensor, {kwargs}], …]
            return tfKeras.compactMap { ($0 as? [Any])?.first as? String }
        }
        guard let call = node as? [String: Any] else { return [] }
        var names: [String] = []
        func collect(_ value: Any, depth: Int) {
            guard depth < 16 else { return }
            if let object = value as? [String: Any] {
                if object["class_name"] as? String == "__keras_tensor__",
                   let history = (object["config"] as? [String: Any])?["keras_history"] as? [Any], let name = history.first as? String {
                    names.append(name)
                } else {
                    for (_, inner) in object { collect(inner, depth: depth + 1) }
                }
            } else if let list = value as? [Any] {
                for inner in list { collect(inner, depth: depth + 1) }
            }
        }
        collect(call["args"] ?? [], depth: 0)
        collect(call["kwargs"] ?? [:], depth: 0)
        return names
    }
}
