-- Library: where a stored submission waits, read from the submission itself (the serialized
-- feedback_queue.v1.Submission of the record's payload): its fairness key, the field
-- `fairness_key` (7), or `submitter_id` (1) when that is empty, and its priority level from
-- `priority` (8). This is the one rule of a submission's key and level; ingest fills
-- fairness_key before storing when the operator chose another source (feedback_queue/fairness.py).

-- Level of each Priority number: 1 high, 2 normal, 3 low (UNSPECIFIED and unknown: normal).
local PRIORITY_LEVEL = {[0] = 2, [1] = 3, [2] = 2, [3] = 1}

-- The protobuf varint at `pos` of `s`, and the position after it.
local function pb_varint(s, pos)
  local value, scale = 0, 1
  while true do
    local b = string.byte(s, pos)
    pos = pos + 1
    value = value + (b % 128) * scale
    if b < 128 then
      return value, pos
    end
    scale = scale * 128
  end
end

-- The priority level, fairness key and submitter id of a serialized Submission.
local function lane_of(payload)
  local pos, size = 1, #payload
  local submitter, key, priority = '', '', 0
  while pos <= size do
    local tag
    tag, pos = pb_varint(payload, pos)
    local field, wire = math.floor(tag / 8), tag % 8
    if wire == 0 then
      local value
      value, pos = pb_varint(payload, pos)
      if field == 8 then priority = value end
    elseif wire == 2 then
      local len
      len, pos = pb_varint(payload, pos)
      if field == 1 then
        submitter = string.sub(payload, pos, pos + len - 1)
      elseif field == 7 then
        key = string.sub(payload, pos, pos + len - 1)
      end
      pos = pos + len
    elseif wire == 1 then
      pos = pos + 8
    elseif wire == 5 then
      pos = pos + 4
    else
      break
    end
  end
  if key == '' then key = submitter end
  return PRIORITY_LEVEL[priority] or 2, key, submitter
end
