import FileIO
/// Checks a native header's architecture and tensors against `LayerSchema`: the declared canonical
/// layout, every layer's output shape re-derived from the input shape and configs, every tensor's
/// name, dtype, shape and layout derived from its layer, and no tensor without a layer. A header that
/// passes can size every buffer the engine and the summary need; one that does not never reaches them.
/// `NativeFile` runs it on open and `NativeWriter` before committing, so a file vggconv writes is one
/// vggconv runs.
public enum ModelCheck {
    /// Dtypes a weight may be stored in (the engine widens the others to float32 on load).
    public static let weightDTypes: Set<DType> = [.float32, .float16, .bfloat16, .float64]

    /// - Throws: `Problem`-derived text through `fail` (the caller names the file).
    public static func validate(_ header: NativeHeader) throws(LayerSchema.Problem) {
        func fail(_ reason: String) -> LayerSchema.Problem { LayerSchema.Problem(reason: reason) }
        guard header.layout == CanonicalLayout() else {
            throw fail("declares layout \(header.layout.convKernel)/\(header.layout.denseKernel)/\(header.layout.activations)/\(header.layout.flattenOrder); vggw files are OIHW/OI/NCHW/CHW")
        }
        let architecture = header.architecture
        guard architecture.layers.count <= LayerSchema.Limit.layers else {
            throw fail("has \(architecture.layers.count) layers, more than the \(LayerSchema.Limit.layers) vggconv accepts")
        }
        guard architecture.inputShape.count == 3 else {
            throw fail("input shape \(architecture.inputShape) is not a (C, H, W) shape")
        }
        do {
            try LayerSchema.checkActivation(architecture.inputShape)
        } catch {
            throw fail("input shape: \(error.reason)")
        }
        var tensors: [String: NativeTensor] = [:]
        for tensor in header.tensors { tensors[tensor.name] = tensor }
        var claimed = Set<String>()
        var shape = architecture.inputShape
        for (position, layer) in architecture.layers.enumerated() {
            let label = "layer \(SafeText.quote(layer.name)) (type \(layer.type.rawValue)) at position \(position)"
            let derived: [Int]
            let parameters: [(role: ParameterRole, shape: [Int])]
            do {
                derived = try LayerSchema.outputShape(layer.type, layer.config, input: shape)
                try LayerSchema.checkActivation(derived)
                parameters = try LayerSchema.parameterShapes(of: layer.type, layer.config, input: shape)
            } catch {
                throw fail("\(label) \(error.reason)")
            }
            let scopes = layer.scopes ?? []
            guard scopes.count <= ModelScope.maximumDepth,
                  scopes.allSatisfy({ !$0.name.isEmpty && ModelScope.classNames.contains($0.className) }) else {
                throw fail("\(label) is nested in models \(scopes.map { "\(SafeText.quote($0.name)) (\(SafeText.quote($0.className)))" }); nesting is at most \(ModelScope.maximumDepth) models of classes \(ModelScope.classNames.sorted().joined(separator: ", ")), each named")
            }
            guard derived == layer.outputShape else {
                throw fail("\(label) records output shape \(layer.outputShape) but its config and input give \(derived)")
            }
            let required = Set(LayerSchema.roles(layer.type, layer.config).filter(\.required).map(\.role))
            var present = Set<ParameterRole>()
            for name in layer.parameters {
                guard let (role, expected) = parameters.first(where: { $0.role.tensorName(ofLayer: layer.name) == name }) else {
                    throw fail("\(label) lists tensor '\(SafeText.quote(name))', which a \(layer.type.rawValue) layer with this config does not have")
                }
                guard let tensor = tensors[name] else { throw fail("\(label) lists tensor '\(SafeText.quote(name))', which the file does not contain") }
                guard claimed.insert(name).inserted else { throw fail("tensor '\(SafeText.quote(name))' is listed by two layers") }
                guard weightDTypes.contains(tensor.dtype) else {
                    throw fail("tensor '\(SafeText.quote(name))' is \(tensor.dtype.rawValue); weights must be float32, float16, bfloat16 or float64")
                }
                guard tensor.shape == expected else {
                    throw fail("tensor '\(SafeText.quote(name))' has shape \(tensor.shape) but \(label) needs \(expected)")
                }
                let layout = LayerSchema.layout(role, of: layer.type)
                guard tensor.layout == layout else {
                    throw fail("tensor '\(SafeText.quote(name))' is tagged \(tensor.layout.rawValue) but \(label) needs \(layout.rawValue)")
                }
                present.insert(role)
            }
            if let missing = required.subtracting(present).first {
                throw fail("\(label) has no \(missing.canonicalSuffix) tensor")
            }
            shape = derived
        }
        if let stray = header.tensors.first(where: { !claimed.contains($0.name) }) {
            throw fail("tensor '\(SafeText.quote(stray.name))' belongs to no layer of the architecture")
        }
    }
}
