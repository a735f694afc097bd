import FileIO
/// The four VGG configurations (Simonyan & Zisserman's A, B, D and E): convolutions per block, each
/// block's width, and the names torchvision (`cfgs` in torchvision/models/vgg.py) and keras.applications
/// (vgg16.py, vgg19.py) build them under. The one table every reader and writer asks.
public enum VGGFamily: String, CaseIterable, Sendable {
    case vgg11, vgg13, vgg16, vgg19

    /// Channels of each block's 3×3 convolutions.
    public static let blockWidths = [64, 128, 256, 512, 512]

    /// 3×3 convolutions in each of the five blocks.
    public var convolutionsPerBlock: [Int] {
        switch self {
        case .vgg11: return [1, 1, 2, 2, 2]
        case .vgg13: return [2, 2, 2, 2, 2]
        case .vgg16: return [2, 2, 3, 3, 3]
        case .vgg19: return [2, 2, 4, 4, 4]
        }
    }

    /// All convolutions (8, 10, 13, 16).
    public var convolutionCount: Int { convolutionsPerBlock.reduce(0, +) }

    /// torchvision's `cfgs` entry: each convolution's width, 0 for a max pool after every block.
    public var torchvisionConfiguration: [Int] {
        zip(convolutionsPerBlock, Self.blockWidths).flatMap { count, width in Array(repeating: width, count: count) + [0] }
    }

    /// The configuration and whether BatchNormalization follows each convolution, from a name such as
    /// `vgg16` or `VGG19_bn`; nil for any other name.
    public static func parse(_ name: String) -> (family: VGGFamily, batchNorm: Bool)? {
        let lower = name.lowercased()
        let batchNorm = lower.hasSuffix("_bn")
        guard let family = VGGFamily(rawValue: batchNorm ? String(lower.dropLast(3)) : lower) else { return nil }
        return (family, batchNorm)
    }

    /// The configuration with this many convolutions, if any.
    public static func withConvolutions(_ count: Int) -> VGGFamily? { allCases.first { $0.convolutionCount == count } }

    /// `vgg11, vgg13, vgg16 or vgg19` for messages.
    public static let namesForMessages = allCases.map(\.rawValue).dropLast().joined(separator: ", ") + " or " + allCases.last!.rawValue
}
