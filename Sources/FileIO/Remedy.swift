/// What the user can do about an error, as a cause a front end phrases in its own terms: the CLI names
/// the flag (`--force`, `--config`), an app its own control. Library messages say what is wrong and
/// what would fix it without naming any flag; errors that know a remedy conform to `Remediable`.
public enum Remedy: Sendable, Equatable, Codable {
    /// Allow the existing output file to be replaced, or choose another output path.
    case allowOverwrite
    /// Give the model's Keras architecture JSON (`model.to_json()`, or a `.keras` archive's `config.json`).
    case giveKerasConfig
    /// As `giveKerasConfig`, or name the keras.applications VGG the weights belong to.
    case giveKerasConfigOrArchitecture
    /// Run the model on a smaller input, at most `side` pixels a side.
    case smallerInput(side: Int)
    /// Read the input array in the other channel order (`channelsLast`: N,H,W,C).
    case otherInputLayout(channelsLast: Bool)
    /// Name another layer of the model.
    case chooseLayer
    /// Pick a class the model has (`classes` of them).
    case chooseClass(classes: Int)
    /// Give the names of the model's outputs (a labels file, one name per line).
    case giveLabels
    /// Compare outputs before softmax (the model's logits).
    case compareLogits
    /// Read a head whose global pooling a state_dict does not record with global max pooling.
    case chooseGlobalMaxPooling
    /// Accept a larger relative error (`rtol`).
    case relativeTolerance(Float)
}

/// An error that knows what would fix it.
public protocol Remediable: Error {
    var remedy: Remedy? { get }
}

extension VGGError: Remediable {
    public var remedy: Remedy? {
        if case .outputExists = self { return .allowOverwrite }
        return nil
    }
}
