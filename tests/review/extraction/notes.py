"""Realistic sample notes shared by the extraction tests and the benchmark."""

TKA_NOTE = """\
Chief complaint: bilateral knee pain, right worse than left.
HPI: 67-year-old woman with bilateral knee osteoarthritis presents with progressive bilateral knee pain and \
stiffness for 3 years. Pain 8/10 with ambulation and at night. She reports difficulty climbing stairs, can walk \
less than one block, and has difficulty rising from a chair. Denies fever, chest pain, or recent trauma. \
No history of cancer.
Conservative treatment: Failed 6 months of NSAIDs (meloxicam 15 mg daily) with GI upset and no lasting relief. \
Completed 12 weeks of formal physical therapy without improvement. Two intra-articular corticosteroid injections \
to the right knee provided only 2 weeks of relief each. Home exercise program continues. Uses a cane outdoors.
Exam: BMI 31.4 kg/m2. Antalgic gait. Right knee effusion, crepitus, varus deformity, limited range of motion \
(5-95 degrees). Medial joint line tenderness bilaterally.
Imaging: Standing AP and lateral radiographs of both knees (03/2025) show severe medial joint space narrowing, \
marginal osteophytes, subchondral sclerosis and bone-on-bone contact on the right; Kellgren-Lawrence grade 4 \
bilaterally.
PMH: hypertension, type 2 diabetes (HbA1c 6.8%). Family history of rheumatoid arthritis (mother).
Assessment: Severe tricompartmental osteoarthritis of the right knee, refractory to more than 6 months of \
conservative care, with marked functional limitation.
Plan: Right total knee arthroplasty. Continue acetaminophen 1 g TID and home exercise until surgery.
"""
