import FileIO

/// A choice a reader made because the file does not record it, which the caller can override: the model
/// keeps it (`SourceModel.assumptions`), its note goes into the provenance, and a front end can offer the
/// other choice through `remedy`.
public enum Assumption: String, Sendable, Codable, CaseIterable {
    /// A state_dict head that takes the last convolution's channels pools globally, by average or by
    /// maximum: the keys cannot say which, and average (torchvision's and timm's heads) is assumed.
    case globalPoolingByAverage

    /// The note recorded in the provenance.
    public var note: String {
        switch self {
        case .globalPoolingByAverage:
            return "the head takes the channels of the last convolution, so the map is pooled globally; a state_dict does not say whether by average or maximum: average assumed (torchvision's and timm's heads)"
        }
    }

    /// What reads the file with the other choice, and when it is the right one.
    public var remedy: Remedy { .chooseGlobalMaxPooling }
    /// When the other choice is the right one, in the source framework's terms.
    public var otherChoiceWhen: String { "the head was AdaptiveMaxPool2d" }
}
