import FileIO
import VGGCore
/// The two ImageNet preprocessings a VGG expects, reproduced step for step, and none.
public enum Preprocessing: String, CaseIterable, Sendable {
    /// Keras: `load_img(path, target_size=(H, W))` (Pillow nearest), `img_to_array`,
    /// `keras.applications.vgg16.preprocess_input` ('caffe': RGB → BGR, minus [103.939, 116.779, 123.68]).
    case keras
    /// torchvision: `Resize(⌊H·256/224⌋)` (shorter side, Pillow bilinear with antialiasing), `CenterCrop(H, W)`,
    /// `ToTensor` (÷ 255), `Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])`.
    case torch
    /// Resized like `keras` (nearest), values 0–255 RGB.
    case none

    public static let caffeMeanBGR: [Float] = [103.939, 116.779, 123.68]
    public static let torchMeanRGB: [Float] = [0.485, 0.456, 0.406]
    public static let torchStdRGB: [Float] = [0.229, 0.224, 0.225]

    /// The image as the network sees it before normalisation: resized (and cropped) to `height × width`.
    public func resize(_ image: RGBImage, height: Int, width: Int) -> RGBImage {
        switch self {
        case .keras, .none:
            return PILResize.nearest(image, width: width, height: height)
        case .torch:
            // torchvision Resize(int): the shorter side to the size, the longer to int(size · long / short).
            let size = height * 256 / 224
            let (short, long) = (min(image.width, image.height), max(image.width, image.height))
            let scaledLong = Int(Double(size) * Double(long) / Double(short))
            let (w, h) = image.width <= image.height ? (size, scaledLong) : (scaledLong, size)
            return PILResize.bilinearCenterCrop(image, width: w, height: h, cropWidth: width, cropHeight: height)
        }
    }

    /// The float32 tensor (C, H, W) for a resized image, channel order and values as the framework's.
    public func tensor(_ image: RGBImage) -> [Float] {
        let plane = image.width * image.height
        var out = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 {
                let value = Float(image.pixels[i * 3 + c])
                switch self {
                case .keras: out[(2 - c) * plane + i] = value - Self.caffeMeanBGR[2 - c]
                case .torch: out[c * plane + i] = (value / 255 - Self.torchMeanRGB[c]) / Self.torchStdRGB[c]
                case .none: out[c * plane + i] = value
                }
            }
        }
        return out
    }

    /// The preprocessing a model from `sourceFormat` (a `.vggw`'s provenance) was trained with.
    public static func matching(sourceFormat: String) -> Preprocessing {
        SourceFramework(sourceFormat: sourceFormat) == .keras ? .keras : .torch
    }
}
