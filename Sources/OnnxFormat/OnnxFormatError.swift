import FileIO

/// Failures reading ONNX files, each cause as data. File-provided names are quoted by `SafeText`.
public enum OnnxFormatError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The protobuf is damaged at `offset` (a length past its message, a varint too long, a wrong wire type).
    case malformed(path: String, offset: Int, what: String)
    /// The file is not an ONNX model (no graph), or one this reader refuses outright.
    case notOnnx(path: String, reason: String)
    /// More of something than any VGG-family model needs (nodes, dims, initializers).
    case limit(path: String, what: String, count: Int, limit: Int)
    case badTensor(path: String, tensor: String, problem: TensorProblem)
    case externalData(path: String, tensor: String, location: String, problem: ExternalProblem)
    /// A node that is not part of a VGG-style network, or one with settings vggconv does not run.
    case unsupportedNode(path: String, node: String, opType: String, opset: Int, detail: String)
    case graph(path: String, problem: GraphProblem)

    /// What is wrong with an initializer or a constant.
    public enum TensorProblem: Sendable, Equatable {
        /// An ONNX element type vggconv does not read (its `TensorProto.DataType` number).
        case dataType(Int)
        case noData
        /// The data holds `actual` bytes where the dims and type need `expected`.
        case size(expected: Int, actual: Int)
        case dims([Int])
        case segmented
    }

    /// Why an external-data reference is refused.
    public enum ExternalProblem: Sendable, Equatable {
        /// Absolute, or with `..`: outside the model's folder.
        case outsideFolder
        /// A symbolic link (or a path through one) that leaves the model's folder.
        case symlinkOutside
        case missing
        case range(offset: Int, length: Int, fileSize: Int)
        case badKey(String)
    }

    /// The graph's shape, not its nodes, is the problem.
    public enum GraphProblem: Sendable, Equatable {
        case noInput
        case severalInputs([String])
        /// A value that no node, initializer or input produces.
        case undefined(value: String, node: String)
        /// A value feeding several nodes: a branch, which a VGG does not have.
        case branch(value: String, consumers: [String])
        /// The chain from the input comes back to a node it passed.
        case cycle(node: String)
        /// The walk from the input ended before a graph output.
        case outputNotReached(last: String)
        /// Nodes the walk from the input to the output never reached.
        case unreached(nodes: [String])
    }

    public var description: String {
        switch self {
        case .malformed(let path, let offset, let what): return "\(path): malformed ONNX protobuf at byte \(offset): \(what)"
        case .notOnnx(let path, let reason): return "\(path): not an ONNX model: \(reason)"
        case .limit(let path, let what, let count, let limit): return "\(path): refused: \(count) \(what), more than the \(limit) a VGG-family model could need"
        case .badTensor(let path, let tensor, let problem): return "\(path): tensor '\(SafeText.quote(tensor))': \(Self.phrase(problem))"
        case .externalData(let path, let tensor, let location, let problem):
            return "\(path): tensor '\(SafeText.quote(tensor))' stores its data in '\(SafeText.quote(location))': \(Self.phrase(problem))"
        case .unsupportedNode(let path, let node, let opType, let opset, let detail):
            return "\(path): node '\(SafeText.quote(node))' (\(SafeText.quote(opType)), opset \(opset)) \(detail)"
        case .graph(let path, let problem): return "\(path): \(Self.phrase(problem))"
        }
    }

    private static func phrase(_ problem: TensorProblem) -> String {
        switch problem {
        case .dataType(let type): return "ONNX element type \(type) is not one vggconv reads (float, float16, bfloat16, double, int64, int32)"
        case .noData: return "holds no data (no raw_data, typed data or external location)"
        case .size(let expected, let actual): return "its data holds \(actual) bytes where its dims and type need \(expected)"
        case .dims(let dims): return "dims \(dims) are not a valid shape"
        case .segmented: return "is segmented, which vggconv does not read"
        }
    }

    private static func phrase(_ problem: ExternalProblem) -> String {
        switch problem {
        case .outsideFolder: return "external data must lie in the model's own folder (no absolute path, no '..'); refused"
        case .symlinkOutside: return "the path leads through a symbolic link out of the model's folder; refused"
        case .missing: return "no such file beside the model; copy the data file with it"
        case .range(let offset, let length, let size): return "bytes \(offset)..<\(offset + length) lie outside the \(size)-byte data file"
        case .badKey(let key): return "external_data entry '\(SafeText.quote(key))' has an invalid value"
        }
    }

    private static func phrase(_ problem: GraphProblem) -> String {
        switch problem {
        case .noInput: return "the graph has no input that is not an initializer"
        case .severalInputs(let names): return "the graph has \(names.count) inputs (\(names.map { SafeText.quote($0) }.joined(separator: ", "))); a VGG takes one image batch"
        case .undefined(let value, let node): return "node '\(SafeText.quote(node))' reads '\(SafeText.quote(value))', which nothing produces"
        case .branch(let value, let consumers):
            return "'\(SafeText.quote(value))' feeds \(consumers.count) nodes (\(consumers.map { SafeText.quote($0) }.joined(separator: ", "))): a branch, not part of a VGG-style network"
        case .cycle(let node): return "the chain of nodes from the input comes back to '\(SafeText.quote(node))': a cycle, which no model has"
        case .outputNotReached(let last): return "the chain of nodes from the input ends at '\(SafeText.quote(last))', which is not a graph output"
        case .unreached(let nodes):
            return "\(nodes.count) node\(nodes.count == 1 ? "" : "s") (\(nodes.prefix(5).map { SafeText.quote($0) }.joined(separator: ", "))) lie off the chain from the input to the output: not a VGG-style network"
        }
    }
}
