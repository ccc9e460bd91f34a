// placeholder: the exec runner lands here
