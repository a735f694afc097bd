import FileIO
/// The framework a model came from, told from its source format (`NativeHeader.Provenance.sourceFormat`,
/// `SourceModel.format`), and the defaults that framework applies where a file records nothing.
public enum SourceFramework: String, Sendable, CaseIterable {
    /// Keras (tf-keras, Keras 3, Keras 1/2): channels-last, epsilon 1e-3, caffe-style preprocessing.
    case keras
    /// PyTorch and what shares its layout (safetensors, timm, torchvision): channels-first, epsilon 1e-5.
    case pytorch

    /// `keras2-model-h5`, `keras3-archive`, `keras-config-json`, … are Keras; everything else
    /// (`pytorch-zip`, `safetensors`, `vggw`) is laid out as PyTorch lays it out.
    public init(sourceFormat: String) {
        self = sourceFormat.hasPrefix("keras") ? .keras : .pytorch
    }

    /// The source-format tag of an ONNX graph whose input is N,H,W,C (tf2onnx from a Keras model): a Keras
    /// model in ONNX, whose inputs default to that layout.
    public static let channelsLastOnnxFormat = "keras-onnx"

    /// BatchNormalization's epsilon when a file does not record it (Keras's layer default; PyTorch's
    /// `nn.BatchNorm2d(eps=1e-5)`, which a state_dict never stores).
    public var batchNormEpsilon: Double {
        switch self {
        case .keras: return 1e-3
        case .pytorch: return 1e-5
        }
    }
}
