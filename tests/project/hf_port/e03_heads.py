# GPT2Attention._split_heads and _merge_heads (transformers 4.x), with the head size computed here


def split_heads(tensor, num_heads):
    attn_head_size = tensor.size(-1) // num_heads
    new_shape = tensor.size()[:-1] + (num_heads, attn_head_size)
    tensor = tensor.view(new_shape)
    return tensor.permute(0, 2, 1, 3)  # (batch, head, seq_length, head_features)


def merge_heads(tensor):
    num_heads, attn_head_size = tensor.size(1), tensor.size(-1)
    tensor = tensor.permute(0, 2, 1, 3).contiguous()
    new_shape = tensor.size()[:-2] + (num_heads * attn_head_size,)
    return tensor.view(new_shape)
