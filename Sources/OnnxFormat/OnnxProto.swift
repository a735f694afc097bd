import FileIO

// ONNX's messages (onnx/onnx.proto3), as much of each as reading a VGG needs. Field numbers are the
// proto's; unknown fields are skipped, never descended into, so nesting is bounded by this schema.

/// Counts that bound the work on any input (each entry costs at least a few bytes of the file as well).
enum OnnxLimit {
    static let nodes = 1 << 16
    static let initializers = 1 << 16
    static let attributes = 256
    static let dims = 16
    static let values = 1 << 20
}

/// `TensorProto`: an initializer or a constant. Its data stays in the file: `raw` (raw_data) or the packed
/// typed fields are ranges of it; only unpacked typed values, which exporters do not write for weights,
/// are collected.
struct OnnxTensorProto {
    var name = ""
    var dims: [Int] = []
    var dataType = 0
    var raw: Range<Int>?
    /// float_data (4), double_data (10) as packed ranges or single values; int32_data (5), int64_data (7).
    var fixed32: (ranges: [Range<Int>], values: [UInt64]) = ([], [])
    var fixed64: (ranges: [Range<Int>], values: [UInt64]) = ([], [])
    var int32Data: [Int64] = []
    var int64Data: [Int64] = []
    var external: [(key: String, value: String)] = []
    var externalLocation = false
    var segmented = false
    /// Where the message starts, for errors.
    var offset = 0

    init(_ reader: ProtobufReader, offset: Int) throws {
        var reader = reader
        self.offset = offset
        var dims: [Int64] = []
        while let field = try reader.next() {
            switch field.number {
            case 1: try reader.appendIntegers(field, to: &dims, limit: OnnxLimit.dims)
            case 2: dataType = Int(try reader.integer(field))
            case 3: segmented = true
            case 4: try reader.appendFixed(field, width: 4, ranges: &fixed32.ranges, values: &fixed32.values)
            case 5: try reader.appendIntegers(field, to: &int32Data, limit: OnnxLimit.values)
            case 7: try reader.appendIntegers(field, to: &int64Data, limit: OnnxLimit.values)
            case 8: name = try reader.string(field)
            case 9: raw = try reader.range(field)
            case 10: try reader.appendFixed(field, width: 8, ranges: &fixed64.ranges, values: &fixed64.values)
            case 13:
                var entry = reader.message(try reader.range(field))
                var key = "", value = ""
                while let part = try entry.next() {
                    if part.number == 1 { key = try entry.string(part) } else if part.number == 2 { value = try entry.string(part) }
                }
                guard external.count < 16 else { throw reader.malformed(field.offset, "more than 16 external_data entries") }
                external.append((key, value))
            case 14: externalLocation = try reader.integer(field) == 1
            default: continue
            }
        }
        guard dims.allSatisfy({ $0 >= 0 && $0 <= Int64(Int32.max) }) else {
            throw OnnxFormatError.badTensor(path: reader.path, tensor: name, problem: .dims(dims.map { Int(clamping: $0) }))
        }
        self.dims = dims.map { Int($0) }
    }
}

/// `AttributeProto`, the kinds VGG nodes use.
enum OnnxAttribute {
    case float(Float)
    case int(Int64)
    case string(String)
    case tensor(OnnxTensorProto)
    case floats([Float])
    case ints([Int64])
    /// A graph, strings or other kinds no VGG node takes.
    case other
}

/// `NodeProto`.
struct OnnxNode {
    var name = ""
    var opType = ""
    var domain = ""
    var inputs: [String] = []
    var outputs: [String] = []
    var attributes: [String: OnnxAttribute] = [:]
    /// Its position in the graph, which names it when it has no name.
    var index = 0

    /// The node's name, or `#index` for an unnamed one.
    var label: String { name.isEmpty ? "#\(index) \(opType)" : name }

    init(_ reader: ProtobufReader, index: Int) throws {
        var reader = reader
        self.index = index
        while let field = try reader.next() {
            switch field.number {
            case 1: inputs.append(try reader.string(field))
            case 2: outputs.append(try reader.string(field))
            case 3: name = try reader.string(field)
            case 4: opType = try reader.string(field)
            case 7: domain = try reader.string(field)
            case 5:
                guard attributes.count < OnnxLimit.attributes else { throw reader.malformed(field.offset, "more than \(OnnxLimit.attributes) attributes") }
                let (name, value) = try Self.attribute(reader.message(try reader.range(field)))
                attributes[name] = value
            default: continue
            }
            guard inputs.count + outputs.count <= OnnxLimit.attributes else {
                throw reader.malformed(field.offset, "more than \(OnnxLimit.attributes) inputs and outputs on one node")
            }
        }
    }

    private static func attribute(_ reader: ProtobufReader) throws -> (String, OnnxAttribute) {
        var reader = reader
        var name = "", value = OnnxAttribute.other
        var ints: [Int64] = [], floats: (ranges: [Range<Int>], values: [UInt64]) = ([], [])
        var kind = 0
        while let field = try reader.next() {
            switch field.number {
            case 1: name = try reader.string(field)
            case 2: if case .fixed32(let bits) = field.value { value = .float(Float(bitPattern: bits)) }
            case 3: value = .int(try reader.integer(field))
            case 4: value = .string(try reader.string(field))
            case 5: value = .tensor(try OnnxTensorProto(reader.message(try reader.range(field)), offset: field.offset))
            case 7: try reader.appendFixed(field, width: 4, ranges: &floats.ranges, values: &floats.values)
            case 8: try reader.appendIntegers(field, to: &ints, limit: OnnxLimit.values)
            case 20: kind = Int(try reader.integer(field))
            default: continue
            }
        }
        // AttributeType: 6 FLOATS, 7 INTS; an empty list has only its type.
        if kind == 7 || !ints.isEmpty { value = .ints(ints) }
        if kind == 6 || !floats.ranges.isEmpty || !floats.values.isEmpty {
            var list = floats.values.map { Float(bitPattern: UInt32($0)) }
            for range in floats.ranges {
                for start in stride(from: range.lowerBound, to: range.upperBound, by: 4) {
                    list.append(Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(reader.buffer[start + $1]) << (8 * UInt32($1)) }))
                }
            }
            value = .floats(list)
        }
        return (name, value)
    }

    func int(_ name: String) -> Int64? { if case .int(let value)? = attributes[name] { return value }; return nil }
    func float(_ name: String) -> Float? { if case .float(let value)? = attributes[name] { return value }; return nil }
    func ints(_ name: String) -> [Int]? {
        if case .ints(let values)? = attributes[name] { return values.map { Int(clamping: $0) } }
        return nil
    }
    func string(_ name: String) -> String? { if case .string(let value)? = attributes[name] { return value }; return nil }
}

/// `ValueInfoProto`: a graph input's or output's name and shape (nil dims are symbolic).
struct OnnxValueInfo {
    var name = ""
    var elementType = 0
    var dims: [Int?] = []

    init(_ reader: ProtobufReader) throws {
        var reader = reader
        while let field = try reader.next() {
            if field.number == 1 { name = try reader.string(field) }
            guard field.number == 2 else { continue }
            var type = reader.message(try reader.range(field))
            while let typeField = try type.next() {
                guard typeField.number == 1 else { continue }  // tensor_type
                var tensor = type.message(try type.range(typeField))
                while let tensorField = try tensor.next() {
                    if tensorField.number == 1 { elementType = Int(clamping: try tensor.integer(tensorField)) }
                    guard tensorField.number == 2 else { continue }
                    var shape = tensor.message(try tensor.range(tensorField))
                    while let dimField = try shape.next() {
                        guard dimField.number == 1 else { continue }
                        guard dims.count < OnnxLimit.dims else { throw shape.malformed(dimField.offset, "more than \(OnnxLimit.dims) dims") }
                        var dim = shape.message(try shape.range(dimField))
                        var value: Int?
                        while let part = try dim.next() {
                            guard part.number == 1 else { continue }  // dim_value; dim_param is symbolic
                            let v = try dim.integer(part)
                            value = v > 0 && v <= Int64(Int32.max) ? Int(v) : nil
                        }
                        dims.append(value)
                    }
                }
            }
        }
    }
}

/// `GraphProto`.
struct OnnxGraphProto {
    var name = ""
    var nodes: [OnnxNode] = []
    var initializers: [OnnxTensorProto] = []
    var inputs: [OnnxValueInfo] = []
    var outputs: [OnnxValueInfo] = []
    var sparseInitializers = 0

    init(_ reader: ProtobufReader) throws {
        var reader = reader
        while let field = try reader.next() {
            switch field.number {
            case 1:
                guard nodes.count < OnnxLimit.nodes else { throw OnnxFormatError.limit(path: reader.path, what: "nodes", count: nodes.count + 1, limit: OnnxLimit.nodes) }
                nodes.append(try OnnxNode(reader.message(try reader.range(field)), index: nodes.count))
            case 2: name = try reader.string(field)
            case 5:
                guard initializers.count < OnnxLimit.initializers else {
                    throw OnnxFormatError.limit(path: reader.path, what: "initializers", count: initializers.count + 1, limit: OnnxLimit.initializers)
                }
                initializers.append(try OnnxTensorProto(reader.message(try reader.range(field)), offset: field.offset))
            case 11, 12:
                guard inputs.count + outputs.count < OnnxLimit.nodes else { throw reader.malformed(field.offset, "too many graph inputs and outputs") }
                let info = try OnnxValueInfo(reader.message(try reader.range(field)))
                if field.number == 11 { inputs.append(info) } else { outputs.append(info) }
            case 15: sparseInitializers += 1
            default: continue
            }
        }
    }
}

/// `ModelProto`: the header and the graph.
struct OnnxModelProto {
    var irVersion = 0
    var producer = ""
    var producerVersion = ""
    /// The default (`ai.onnx`) domain's opset.
    var opset = 1
    var otherDomains: [String] = []
    var graph: OnnxGraphProto

    init(_ reader: ProtobufReader) throws {
        var reader = reader
        var graph: OnnxGraphProto?
        var opsets: [(String, Int)] = []
        while let field = try reader.next() {
            switch field.number {
            case 1: irVersion = Int(clamping: try reader.integer(field))
            case 2: producer = try reader.string(field)
            case 3: producerVersion = try reader.string(field)
            case 7:
                guard graph == nil else { throw reader.malformed(field.offset, "a second graph") }
                graph = try OnnxGraphProto(reader.message(try reader.range(field)))
            case 8:
                guard opsets.count < 64 else { throw reader.malformed(field.offset, "more than 64 opset imports") }
                var entry = reader.message(try reader.range(field))
                var domain = "", version = 1
                while let part = try entry.next() {
                    if part.number == 1 { domain = try entry.string(part) } else if part.number == 2 { version = Int(clamping: try entry.integer(part)) }
                }
                opsets.append((domain, version))
            default: continue
            }
        }
        guard let graph else { throw OnnxFormatError.notOnnx(path: reader.path, reason: "no graph (ModelProto field 7)") }
        self.graph = graph
        // IR version 3 and later name the opset of every domain they use; without it the ops mean nothing.
        guard let defaultOpset = opsets.first(where: { $0.0.isEmpty || $0.0 == "ai.onnx" })?.1 ?? (irVersion < 3 ? 1 : nil) else {
            throw OnnxFormatError.notOnnx(path: reader.path, reason: "no opset_import for ONNX's own operators (truncated?)")
        }
        opset = defaultOpset
        otherDomains = opsets.map(\.0).filter { !$0.isEmpty && $0 != "ai.onnx" }
    }
}
