// SPDX-License-Identifier: MIT
pragma solidity 0.8.19;

/// Records an inference output only when it comes with a valid aggregated zkinfer proof of
/// one given model. `verifier` is the contract compiled from `export_solidity` for the
/// aggregation key of that model; it reverts unless the proof verifies.
contract ModelOutputRegistry {
    /// BN254's scalar field: the verifier reduces every public input modulo it, so only
    /// values below it are accepted here, or two words could stand for one value.
    uint256 internal constant Q = 0x30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001;

    address public immutable verifier;
    bytes32 public immutable modelId;

    /// output commitment => input commitment it was computed from
    mapping(uint256 => uint256) public inputOf;

    event OutputProved(uint256 indexed inputCommitment, uint256 indexed outputCommitment);

    constructor(address verifier_, bytes32 modelId_) {
        verifier = verifier_;
        modelId = modelId_;
    }

    /// `accumulator`: public inputs 0..12 of the proof; `proof`: the proof bytes.
    function submit(uint256[12] calldata accumulator, uint256 inputCommitment, uint256 outputCommitment, bytes calldata proof)
        external
    {
        require(inputCommitment < Q && outputCommitment < Q, "not a field element");
        uint256 idHi = uint256(modelId) >> 128;
        uint256 idLo = uint256(modelId) & type(uint128).max;
        bytes memory input = abi.encodePacked(accumulator, inputCommitment, outputCommitment, idHi, idLo, proof);
        (bool ok,) = verifier.staticcall(input);
        require(ok, "invalid proof");
        inputOf[outputCommitment] = inputCommitment;
        emit OutputProved(inputCommitment, outputCommitment);
    }
}
