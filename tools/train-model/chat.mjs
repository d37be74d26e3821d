// The MMaDA chat template (nl = '\n') and LLaDA's (nl = '\n\n') for one user turn with the
// generation prompt, as spec section 7.2/7.3 renders it.
export const chatPrompt = (prompt, nl) =>
  `<|startoftext|><|start_header_id|>user<|end_header_id|>${nl}${prompt}<|eot_id|><|start_header_id|>assistant<|end_header_id|>${nl}`
